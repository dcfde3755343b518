"""Whole tutorial transform chains run by real MONAI on real CT files, for ssl3d's `ssl-data chain` contract.

Made with: monai 1.5.0, torch 2.6.0 (CPU), nibabel 5.4.2, numpy (see the JSON header), by
    pip install "monai==1.5.0" torch nibabel
    python3 scripts/reference/gen_monai_chains.py ../shared/reference tests/fixtures/monai_chains.json
    pip install --no-deps --target /tmp/monai16 "monai==1.6.1"
    PYTHONPATH=/tmp/monai16 python3 scripts/reference/gen_monai_chains.py ../shared/reference \
        tests/fixtures/monai_chains.json append-monai16
Inputs are files of the shared reference folder (paths in the JSON are relative to it). Each run builds the
tutorial's Compose (SPEC §1.2 pretrain, §2.2 finetune-train / finetune-val), seeds it with
`Compose.set_random_state(seed=S)` and calls it once on {"image": path[, "label": path]}. For every output
sample and key it records the shape, the float64 sum and wsum = sum_j ((j mod 1009) + 1) * a_j over the C-order
flattening. "config" holds the ssl3d pipeline-config fields that differ from the tutorial for that run.
"""
import json, os, sys
import numpy as np, torch, monai, nibabel
from monai.transforms import (Compose, LoadImaged, EnsureChannelFirstd, Spacingd, ScaleIntensityRanged, CropForegroundd,
    SpatialPadd, RandSpatialCropSamplesd, CopyItemsd, OneOf, RandCoarseDropoutd, RandCoarseShuffled, Orientationd,
    RandCropByPosNegLabeld, RandFlipd, RandRotate90d, RandShiftIntensityd)

ref, out_path = sys.argv[1], sys.argv[2]
# With a third argument "append-monai16" (run under MONAI 1.6, e.g. PYTHONPATH=/tmp/monai16), only the
# pretraining runs on example_ct_sm are made and appended, with ssl3d's {"oneof_per_sample": false}.
monai16 = len(sys.argv) > 3 and sys.argv[3] == "append-monai16"

def wsum(a):
    a = np.asarray(a, dtype=np.float64).ravel(); j = np.arange(a.size) % 1009 + 1
    return float((a * j).sum())

def pretrain():
    view = lambda k: [OneOf(transforms=[RandCoarseDropoutd(keys=[k], prob=1.0, holes=6, spatial_size=5, dropout_holes=True, max_spatial_size=32),
                                        RandCoarseDropoutd(keys=[k], prob=1.0, holes=6, spatial_size=20, dropout_holes=False, max_spatial_size=64)]),
                      RandCoarseShuffled(keys=[k], prob=0.8, holes=10, spatial_size=8)]
    return Compose([LoadImaged(keys=["image"]), EnsureChannelFirstd(keys=["image"]),
        Spacingd(keys=["image"], pixdim=(2.0, 2.0, 2.0), mode="bilinear"),
        ScaleIntensityRanged(keys=["image"], a_min=-57, a_max=164, b_min=0.0, b_max=1.0, clip=True),
        CropForegroundd(keys=["image"], source_key="image", allow_smaller=True),
        SpatialPadd(keys=["image"], spatial_size=(96, 96, 96)),
        RandSpatialCropSamplesd(keys=["image"], roi_size=(96, 96, 96), random_size=False, num_samples=2),
        CopyItemsd(keys=["image"], times=2, names=["gt_image", "image_2"], allow_missing_keys=False)]
        + view("image") + view("image_2"))

# Fine-tuning runs resample 3 mm CT to (1.4, 1.4, 2.2) mm instead of the tutorial's (1.5, 1.5, 2.0): at exactly 2x
# upsampling, nearest-neighbour label resampling lands on exact half-voxel ties, which torch breaks by the last-bit
# rounding of its normalised sampling grid (it depends on the CPU's vector width). 1.4/3 and 2.2/3 never give
# a tie, so the label crops are comparable bit for bit.
FT_PIXDIM = (1.4, 1.4, 2.2)


def finetune(train, size=(96, 96, 96)):
    t = [LoadImaged(keys=["image", "label"]), EnsureChannelFirstd(keys=["image", "label"]),
         Orientationd(keys=["image", "label"], axcodes="RAS"),
         Spacingd(keys=["image", "label"], pixdim=FT_PIXDIM, mode=("bilinear", "nearest")),
         ScaleIntensityRanged(keys=["image"], a_min=-175, a_max=250, b_min=0.0, b_max=1.0, clip=True),
         CropForegroundd(keys=["image", "label"], source_key="image", allow_smaller=True)]
    if train:
        t += [RandCropByPosNegLabeld(keys=["image", "label"], label_key="label", spatial_size=size, pos=1, neg=1,
                                     num_samples=4, image_key="image", image_threshold=0),
              RandFlipd(keys=["image", "label"], spatial_axis=[0], prob=0.10),
              RandFlipd(keys=["image", "label"], spatial_axis=[1], prob=0.10),
              RandFlipd(keys=["image", "label"], spatial_axis=[2], prob=0.10),
              RandRotate90d(keys=["image", "label"], prob=0.10, max_k=3),
              RandShiftIntensityd(keys=["image"], offsets=0.10, prob=0.50)]
    return Compose(t)

def summarise(out):
    samples = out if isinstance(out, list) else [out]
    res = []
    for s in samples:
        d = {}
        for k, v in s.items():
            if isinstance(v, torch.Tensor) and v.ndim == 4:
                a = v.detach().cpu().numpy()
                d[k] = {"shape": list(a.shape), "sum": float(a.astype(np.float64).sum()), "wsum": wsum(a)}
        res.append(d)
    return res

runs = []
ct = "nifti/totalsegmentator/example_ct_sm.nii.gz"
if monai16:
    doc = json.load(open(out_path))
    for seed in [0, 1, 123]:
        c = pretrain(); c.set_random_state(seed=seed)
        doc["runs"].append({"pipeline": "pretrain", "image": ct, "label": None, "seed": seed, "monai": monai.__version__,
                            "config": {"oneof_per_sample": False},
                            "samples": summarise(c({"image": os.path.join(ref, ct)}))})
    json.dump(doc, open(out_path, "w"), indent=1)
    print("appended MONAI", monai.__version__, "runs to", out_path)
    sys.exit(0)
seg = "nifti/totalsegmentator/example_seg.nii.gz"
# (MONAI's NibabelReader does not take .hdr/.img pairs, so the pair file is left out.)
for image in [ct, "nifti/derived/ct_sm_be_u16_slope0.5_inter-1024.nii.gz", "nifti/derived/ct_sm_nan_slope_patched.nii.gz"]:
    for seed in [0, 1, 123]:
        c = pretrain(); c.set_random_state(seed=seed)
        runs.append({"pipeline": "pretrain", "image": image, "label": None, "seed": seed, "config": {},
                     "samples": summarise(c({"image": os.path.join(ref, image)}))})
c = finetune(False); c.set_random_state(seed=0)
runs.append({"pipeline": "finetune-val", "image": ct, "label": seg, "seed": 0, "config": {"num_classes": 118, "pixdim": list(FT_PIXDIM)},
             "samples": summarise(c({"image": os.path.join(ref, ct), "label": os.path.join(ref, seg)}))})
for seed in [0, 1, 7, 123, 2024]:
    c = finetune(True, (32, 32, 16)); c.set_random_state(seed=seed)
    runs.append({"pipeline": "finetune-train", "image": ct, "label": seg, "seed": seed,
                 "config": {"spatial_size": [32, 32, 16], "num_classes": 118, "pixdim": list(FT_PIXDIM)},
                 "samples": summarise(c({"image": os.path.join(ref, ct), "label": os.path.join(ref, seg)}))})
json.dump({"generator": "scripts/reference/gen_monai_chains.py", "monai": monai.__version__, "torch": torch.__version__,
           "numpy": np.__version__, "nibabel": nibabel.__version__,
           "reference_layout": "image/label paths are relative to SSL3D_REFERENCE_DIR", "runs": runs},
          open(out_path, "w"), indent=1)
print("wrote", out_path, len(runs), "runs")
