"""MONAI's inference of one CT scan, timed like `ssl-segment --json` reports it, for docs/BENCHMARKS.md:
the fine-tuning tutorial's validation transforms (LoadImaged, EnsureChannelFirstd, Orientationd RAS,
Spacingd (1.5, 1.5, 2.0) bilinear, ScaleIntensityRanged -175..250 clipped, CropForegroundd), the
tutorial's full-size UNETR in `sliding_window_inference` (96³ windows, 4 per batch, overlap 0.25,
constant blending), the argmax, `Invertd` with nearest interpolation back onto the scan's grid and
`SaveImaged` as uint8 .nii.gz: what ssl-segment does, in the same order.

    pip install "monai==1.5.0" torch nibabel
    # random full-size UNETR weights, shared by both sides (ssl-segment reads MONAI's .pth):
    python3 scripts/bench/monai_segment.py make-checkpoint /tmp/unetr_full.pth
    python3 scripts/bench/monai_segment.py segment /tmp/unetr_full.pth SCAN.nii.gz OUT_DIR \
        [--repeat R] [--threads T] [--compare SSL3D_SEG.nii.gz] [--json]

One warm-up, then the median of R repetitions (default 1) of the whole per-scan path, file to
file; loading the model is not timed (as in ssl-segment's per-scan seconds). `--compare` reports
the fraction of voxels whose label equals another segmentation's (ssl-segment's of the same scan
with the same weights).
"""
import argparse, json, statistics, time

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from monai.networks.nets import UNETR
from monai.transforms import (
    AsDiscreted,
    Compose,
    CropForegroundd,
    EnsureChannelFirstd,
    Invertd,
    LoadImaged,
    Orientationd,
    SaveImaged,
    ScaleIntensityRanged,
    Spacingd,
)

p = argparse.ArgumentParser()
p.add_argument("what", choices=["make-checkpoint", "segment"])
p.add_argument("checkpoint")
p.add_argument("scan", nargs="?")
p.add_argument("out", nargs="?")
p.add_argument("--repeat", type=int, default=1)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--compare")
p.add_argument("--json", action="store_true")
a = p.parse_args()
torch.set_num_threads(a.threads)


def tutorial_unetr():
    return UNETR(in_channels=1, out_channels=14, img_size=(96, 96, 96), feature_size=16, hidden_size=768,
                 mlp_dim=3072, num_heads=12, proj_type="conv", norm_name="instance", res_block=True,
                 dropout_rate=0.0)


if a.what == "make-checkpoint":
    torch.manual_seed(a.seed)
    torch.save(tutorial_unetr().state_dict(), a.checkpoint)
    print(a.checkpoint)
    raise SystemExit

model = tutorial_unetr()
missing, unexpected = model.load_state_dict(torch.load(a.checkpoint, map_location="cpu"), strict=False)
assert not unexpected and all(".cross_attn." in k for k in missing), (missing, unexpected)
model.eval()
pre = Compose([
    LoadImaged(keys="image"),
    EnsureChannelFirstd(keys="image"),
    Orientationd(keys="image", axcodes="RAS"),
    Spacingd(keys="image", pixdim=(1.5, 1.5, 2.0), mode="bilinear"),
    ScaleIntensityRanged(keys="image", a_min=-175, a_max=250, b_min=0.0, b_max=1.0, clip=True),
    CropForegroundd(keys="image", source_key="image"),
])
post = Compose([
    AsDiscreted(keys="pred", argmax=True),
    Invertd(keys="pred", transform=pre, orig_keys="image", nearest_interp=True),
    SaveImaged(keys="pred", output_dir=a.out, output_postfix="seg", output_dtype=np.uint8,
               separate_folder=False, resample=False, print_log=False),
])


def segment():
    t0 = time.perf_counter()
    d = pre({"image": a.scan})
    t1 = time.perf_counter()
    with torch.no_grad():
        d["pred"] = sliding_window_inference(d["image"][None], (96, 96, 96), 4, model, overlap=0.25,
                                             mode="constant")[0]
    t2 = time.perf_counter()
    post(d)
    t3 = time.perf_counter()
    return t3 - t0, {"read_preprocess_s": t1 - t0, "inference_s": t2 - t1, "invert_save_s": t3 - t2}, d


segment()
runs = [segment() for _ in range(a.repeat)]
total = statistics.median(r[0] for r in runs)
stages = {k: statistics.median(r[1][k] for r in runs) for k in runs[0][1]}
result = {"monai": __import__("monai").__version__, "torch": torch.__version__, "threads": a.threads,
          "scan": a.scan, "preprocessed_shape": list(runs[-1][2]["image"].shape[1:]),
          "seconds_per_scan": total, **stages}
if a.compare:
    import glob, nibabel as nib
    ours = np.asanyarray(nib.load(glob.glob(f"{a.out}/*_seg.nii.gz")[0]).dataobj)
    theirs = np.asanyarray(nib.load(a.compare).dataobj)
    result["label_agreement"] = float((ours == theirs).mean()) if ours.shape == theirs.shape else None
print(json.dumps(result) if a.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
