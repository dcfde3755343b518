"""The tutorial's MONAI transform lists, shared by the bench scripts."""
from monai.transforms import (LoadImaged, EnsureChannelFirstd, Spacingd, ScaleIntensityRanged, CropForegroundd,
    SpatialPadd, RandSpatialCropSamplesd, CopyItemsd, OneOf, RandCoarseDropoutd, RandCoarseShuffled, Orientationd,
    RandCropByPosNegLabeld, RandFlipd, RandRotate90d, RandShiftIntensityd, Compose)


def _view(k):
    return [OneOf(transforms=[RandCoarseDropoutd(keys=[k], prob=1.0, holes=6, spatial_size=5, dropout_holes=True, max_spatial_size=32),
                              RandCoarseDropoutd(keys=[k], prob=1.0, holes=6, spatial_size=20, dropout_holes=False, max_spatial_size=64)]),
            RandCoarseShuffled(keys=[k], prob=0.8, holes=10, spatial_size=8)]


def pretrain_list():
    return [LoadImaged(keys=["image"]), EnsureChannelFirstd(keys=["image"]), Spacingd(keys=["image"], pixdim=(2, 2, 2), mode="bilinear"),
            ScaleIntensityRanged(keys=["image"], a_min=-57, a_max=164, b_min=0.0, b_max=1.0, clip=True),
            CropForegroundd(keys=["image"], source_key="image", allow_smaller=True), SpatialPadd(keys=["image"], spatial_size=(96, 96, 96)),
            RandSpatialCropSamplesd(keys=["image"], roi_size=(96, 96, 96), random_size=False, num_samples=2),
            CopyItemsd(keys=["image"], times=2, names=["gt_image", "image_2"])] + _view("image") + _view("image_2")


def finetune_list():
    return [LoadImaged(keys=["image", "label"]), EnsureChannelFirstd(keys=["image", "label"]), Orientationd(keys=["image", "label"], axcodes="RAS"),
            Spacingd(keys=["image", "label"], pixdim=(1.5, 1.5, 2.0), mode=("bilinear", "nearest")),
            ScaleIntensityRanged(keys=["image"], a_min=-175, a_max=250, b_min=0.0, b_max=1.0, clip=True),
            CropForegroundd(keys=["image", "label"], source_key="image", allow_smaller=True),
            RandCropByPosNegLabeld(keys=["image", "label"], label_key="label", spatial_size=(96, 96, 96), pos=1, neg=1, num_samples=4, image_key="image", image_threshold=0),
            RandFlipd(keys=["image", "label"], spatial_axis=[0], prob=0.10), RandFlipd(keys=["image", "label"], spatial_axis=[1], prob=0.10),
            RandFlipd(keys=["image", "label"], spatial_axis=[2], prob=0.10), RandRotate90d(keys=["image", "label"], prob=0.10, max_k=3),
            RandShiftIntensityd(keys=["image"], offsets=0.10, prob=0.50)]


def pretrain_transforms():
    return Compose(pretrain_list())


def finetune_transforms():
    return Compose(finetune_list())
