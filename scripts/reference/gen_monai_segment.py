"""MONAI's sliding-window segmentation with the tiny UNETR checkpoint of the shared reference set,
for tests/it/segment_monai.rs.

Made with MONAI 1.5.0 and torch 2.6.0 (CPU build) by
    pip install "monai==1.5.0" torch numpy
    python3 scripts/reference/gen_monai_segment.py ../shared/reference tests/fixtures/monai_segment.json

The reference set's `monai/checkpoints/unetr_tiny_best_metric_model.pth` (a bare UNETR state dict)
is loaded into MONAI's UNETR built from `monai/model_vectors.json`'s `unetr_tiny.config`, and
`sliding_window_inference` (the fine-tuning tutorial's: 4 windows per batch, overlap 0.25, constant
blending, windows of the model's img_size) runs over a preprocessed volume defined by a formula:
    x[i, j, k] = 0.5 + 0.5 * sin(a*i + b*j + c*k + d)        (shape X, Y, Z; C order)
The argmax over classes is stored as runs over the flat C-order volume, [[label, count], ...], with
`ties`: the flat indices whose two largest scores differ by less than 1e-5 of the largest |score|
(a rounding difference may pick either there). `checkpoint_sha256` names the file the labels
belong to: with another reference set the test skips.

`tta` is the same with flip test-time augmentation as nnU-Net mirrors: the input flipped along every
subset of its three spatial axes (torch.flip), `sliding_window_inference` on each, flipped back,
softmax over classes, mean of the 8. Its labels and ties are stored the same way, and `probes`
holds the mean probabilities of every class at a few flat indices.
"""
import hashlib, json, sys

import monai
import numpy as np
import torch
from monai.inferers import sliding_window_inference
from monai.networks.nets import UNETR

torch.set_num_threads(1)
ref, out = sys.argv[1], sys.argv[2]
ckpt = f"{ref}/monai/checkpoints/unetr_tiny_best_metric_model.pth"
cfg = json.load(open(f"{ref}/monai/model_vectors.json"))["unetr_tiny"]["config"]
model = UNETR(**cfg).eval()
# MONAI >= 1.4 builds unused cross-attention layers into every block; only those may be missing.
missing, unexpected = model.load_state_dict(torch.load(ckpt, map_location="cpu"), strict=False)
assert not unexpected and all(".cross_attn." in k for k in missing), (missing, unexpected)
roi = tuple(cfg["img_size"])

shape = (roi[0] + 9, roi[1] + 5, roi[2] + 2)
a, b, c, d = 0.21, 0.13, 0.37, 0.4
i, j, k = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
x = (0.5 + 0.5 * np.sin(a * i + b * j + c * k + d)).astype(np.float32)
with torch.no_grad():
    scores = sliding_window_inference(
        torch.from_numpy(x)[None, None], roi, 4, model, overlap=0.25, mode="constant"
    )[0].numpy()


def label_runs(scores):
    labels = scores.argmax(0).reshape(-1)
    top2 = np.sort(scores.reshape(scores.shape[0], -1), axis=0)[-2:]
    ties = np.nonzero(top2[1] - top2[0] < 1e-5 * np.abs(scores).max())[0]
    runs = []
    for v in labels.tolist():
        if runs and runs[-1][0] == v:
            runs[-1][1] += 1
        else:
            runs.append([v, 1])
    return labels, runs, ties


labels, runs, ties = label_runs(scores)

flips = [[d + 2 for d in range(3) if m & (1 << d)] for m in range(8)]
mean = 0
with torch.no_grad():
    for dims in flips:
        xin = torch.from_numpy(x)[None, None]
        if dims:
            xin = torch.flip(xin, dims)
        out_t = sliding_window_inference(xin, roi, 4, model, overlap=0.25, mode="constant")
        if dims:
            out_t = torch.flip(out_t, dims)
        mean = mean + torch.softmax(out_t, dim=1)
probs = (mean / len(flips))[0].numpy()
tta_labels, tta_runs, tta_ties = label_runs(probs)
flat = probs.reshape(probs.shape[0], -1)
probe_index = np.linspace(0, flat.shape[1] - 1, 16).astype(int).tolist()
json.dump(
    {
        "monai": monai.__version__,
        "torch": torch.__version__,
        "checkpoint": "monai/checkpoints/unetr_tiny_best_metric_model.pth",
        "checkpoint_sha256": hashlib.sha256(open(ckpt, "rb").read()).hexdigest(),
        "shape": list(shape),
        "formula": {"a": a, "b": b, "c": c, "d": d},
        "roi_size": list(roi),
        "sw_batch_size": 4,
        "overlap": 0.25,
        "mode": "constant",
        "label_runs": runs,
        "ties": ties.tolist(),
        "classes_present": sorted(set(labels.tolist())),
        "tta": {
            "flips": flips,
            "label_runs": tta_runs,
            "ties": tta_ties.tolist(),
            "classes_present": sorted(set(tta_labels.tolist())),
            "changed_by_tta": int((tta_labels != labels).sum()),
            "probes": [{"index": i, "probabilities": flat[:, i].tolist()} for i in probe_index],
        },
    },
    open(out, "w"),
)
print(f"{out}: {len(runs)} runs, {len(ties)} ties, classes {sorted(set(labels.tolist()))}; "
      f"tta: {len(tta_runs)} runs, {len(tta_ties)} ties, {int((tta_labels != labels).sum())} voxels changed")
