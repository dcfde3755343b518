"""Times MONAI's tutorial transform chains per stage on one volume, for docs/BENCHMARKS.md.

    pip install "monai==1.5.0" torch nibabel
    python3 scripts/bench/monai_transforms.py IMAGE LABEL [THREADS]
Runs each chain 1 + 3 times (the first is a warm-up) and prints the median per stage, like
`ssl-data bench transforms`.
"""
import sys, time
import numpy as np, torch
from monai.transforms import (LoadImaged, EnsureChannelFirstd, Spacingd, ScaleIntensityRanged, CropForegroundd,
    SpatialPadd, RandSpatialCropSamplesd, CopyItemsd, OneOf, RandCoarseDropoutd, RandCoarseShuffled, Orientationd,
    RandCropByPosNegLabeld, RandFlipd, RandRotate90d, RandShiftIntensityd, Compose)

image, label = sys.argv[1], sys.argv[2]
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
view = lambda k: [OneOf(transforms=[RandCoarseDropoutd(keys=[k], prob=1.0, holes=6, spatial_size=5, dropout_holes=True, max_spatial_size=32),
                                    RandCoarseDropoutd(keys=[k], prob=1.0, holes=6, spatial_size=20, dropout_holes=False, max_spatial_size=64)]),
                  RandCoarseShuffled(keys=[k], prob=0.8, holes=10, spatial_size=8)]
pre = [LoadImaged(keys=["image"]), EnsureChannelFirstd(keys=["image"]), Spacingd(keys=["image"], pixdim=(2, 2, 2), mode="bilinear"),
       ScaleIntensityRanged(keys=["image"], a_min=-57, a_max=164, b_min=0.0, b_max=1.0, clip=True),
       CropForegroundd(keys=["image"], source_key="image", allow_smaller=True), SpatialPadd(keys=["image"], spatial_size=(96, 96, 96)),
       RandSpatialCropSamplesd(keys=["image"], roi_size=(96, 96, 96), random_size=False, num_samples=2),
       CopyItemsd(keys=["image"], times=2, names=["gt_image", "image_2"])] + view("image") + view("image_2")
ft = [LoadImaged(keys=["image", "label"]), EnsureChannelFirstd(keys=["image", "label"]), Orientationd(keys=["image", "label"], axcodes="RAS"),
      Spacingd(keys=["image", "label"], pixdim=(1.5, 1.5, 2.0), mode=("bilinear", "nearest")),
      ScaleIntensityRanged(keys=["image"], a_min=-175, a_max=250, b_min=0.0, b_max=1.0, clip=True),
      CropForegroundd(keys=["image", "label"], source_key="image", allow_smaller=True),
      RandCropByPosNegLabeld(keys=["image", "label"], label_key="label", spatial_size=(96, 96, 96), pos=1, neg=1, num_samples=4, image_key="image", image_threshold=0),
      RandFlipd(keys=["image", "label"], spatial_axis=[0], prob=0.10), RandFlipd(keys=["image", "label"], spatial_axis=[1], prob=0.10),
      RandFlipd(keys=["image", "label"], spatial_axis=[2], prob=0.10), RandRotate90d(keys=["image", "label"], prob=0.10, max_k=3),
      RandShiftIntensityd(keys=["image"], offsets=0.10, prob=0.50)]
for name, ts, data in [("pretrain", pre, {"image": image}), ("finetune-train", ft, {"image": image, "label": label})]:
    times = []
    for r in range(4):
        c = Compose(ts); c.set_random_state(seed=r)
        d, row = dict(data), []
        for t in ts:
            t0 = time.perf_counter()
            d = [t(x) for x in d] if isinstance(d, list) else t(d)
            row.append(time.perf_counter() - t0)
        times.append(row)
    med = np.median(np.array(times[1:]), axis=0)
    print(f"\n{name} (MONAI, {torch.get_num_threads()} thread(s))")
    for t, m in zip(ts, med):
        print(f"| {type(t).__name__} | {m:.3f} |")
    print(f"| **total** | **{med.sum():.3f}** |")
