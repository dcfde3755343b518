"""Projected GPU budget on paper, for docs/BENCHMARKS.md ("Projected GPU budget (on paper)").

Counts the FLOPs of the tutorial's steps on MONAI's own networks with torch.utils.flop_counter.FlopCounterMode
(on the "meta" device: shapes only, nothing is computed, so it runs in seconds on any machine), then divides
the tutorial's total work by NVIDIA's H100 SXM / H200 spec-sheet peaks at an assumed model-FLOP utilisation.

    python3 -m venv /tmp/flopvenv && /tmp/flopvenv/bin/pip install "torch==2.6.0" "monai==1.5.0" einops
    /tmp/flopvenv/bin/python scripts/bench/gpu_budget.py [--mfu 0.3] [--val-shape 253,165,150]
    (or `python3 scripts/bench/gpu_budget.py` with that venv active)

Counted: what FlopCounterMode counts, i.e. matmuls, convolutions, transposed convolutions and their backward
(2 FLOPs per multiply-add). Not counted: element-wise work (GELU, norms, softmax, losses, Adam), which is
memory-bound and small in FLOPs; the MFU assumption has to absorb it. Backward is measured as the count of
loss.backward() (no gradient is formed for the input images, so it is a little under 2x forward).
Tutorial settings (docs/PRETRAINING.md, docs/FINETUNING.md): pretraining 4 volumes x 2 crops = 8 samples of 96^3, both augmented views
through the ViTAutoEnc, 600 training volumes, 500 epochs, validation (view 1 forward of the 171 validation
volumes, 42 batches of 8 + 1 of 6 samples) after every 2nd epoch = 250 times; fine-tuning 1 volume x 4 crops,
30 000 iterations, validation (sliding window, roi 96^3, sw_batch_size 4, overlap 0.25, over 6 volumes) every
100 iterations = 299 times.
"""
import argparse
import math

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode
from monai.inferers.utils import _get_scan_interval
from monai.data.utils import dense_patch_slices
from monai.losses import ContrastiveLoss, DiceCELoss
from monai.networks.nets import UNETR, ViTAutoEnc

p = argparse.ArgumentParser()
p.add_argument("--mfu", type=float, default=0.30)
p.add_argument("--val-shape", default="253,165,150", help="a BTCV validation volume after preprocessing")
a = p.parse_args()
META = torch.device("meta")
ROI = (96, 96, 96)


def count(f):
    with FlopCounterMode(display=False) as m:
        f()
    return m.get_total_flops()


class Traffic(TorchDispatchMode):
    """Bytes read + written by every non-view op, as eager PyTorch runs them unfused: roughly what
    such kernels move through GPU memory (less where the 50 MB L2 holds a tensor; fused kernels move less)."""

    def __init__(self):
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not func.is_view:
            for t in tree_flatten((args, kwargs, out))[0]:
                if isinstance(t, torch.Tensor):  # an expanded view reads only its storage
                    self.bytes += min(t.numel() * t.element_size(), t.untyped_storage().nbytes())
        return out


def traffic(f):
    with Traffic() as m:
        f()
    return m.bytes


with META:
    vit = ViTAutoEnc(in_channels=1, img_size=ROI, patch_size=(16, 16, 16), proj_type="conv",
                     hidden_size=768, mlp_dim=3072)
    unetr = UNETR(in_channels=1, out_channels=14, img_size=ROI, feature_size=16, hidden_size=768,
                  mlp_dim=3072, num_heads=12, proj_type="conv", norm_name="instance", res_block=True,
                  dropout_rate=0.0)


def ssl_loss(b):  # the tutorial's step: two views, L1 + contrastive * L1
    x, x2, gt = (torch.rand((b, 1) + ROI, device=META) for _ in range(3))
    y1, _ = vit(x)
    y2, _ = vit(x2)
    r = torch.nn.functional.l1_loss(y1, gt)
    return r + ContrastiveLoss(temperature=0.05)(y1.flatten(1), y2.flatten(1)) * r


def seg_loss(b):  # DiceCE on UNETR logits
    x = torch.rand((b, 1) + ROI, device=META)
    y = torch.randint(0, 14, (b, 1) + ROI, device=META).float()
    return DiceCELoss(to_onehot_y=True, softmax=True)(unetr(x), y)


vit_fwd1 = count(lambda: vit(torch.rand((1, 1) + ROI, device=META)))
ssl_fwd = count(lambda: ssl_loss(8))
ssl_all = count(lambda: ssl_loss(8).backward())
unetr_fwd1 = count(lambda: unetr(torch.rand((1, 1) + ROI, device=META)))
seg_fwd = count(lambda: seg_loss(4))
seg_all = count(lambda: seg_loss(4).backward())

ssl_bytes = traffic(lambda: ssl_loss(8).backward())
vit_bytes = traffic(lambda: torch.nn.functional.l1_loss(vit(torch.rand((16, 1) + ROI, device=META))[0],
                                                        torch.rand((16, 1) + ROI, device=META)).backward())
seg_bytes = traffic(lambda: seg_loss(4).backward())

# Hand check of the ViTAutoEnc (216 tokens of 768, 12 layers): 2*M*N*K per matmul.
T, D, F, L = 216, 768, 3072, 12
per_layer = 2 * T * D * 3 * D + 2 * 2 * T * T * D + 2 * T * D * D + 2 * 2 * T * D * F  # qkv, QK^T+AV, proj, MLP
embed = 2 * T * 4096 * D  # the 16^3 patch convolution as a GEMM
deconv = 2 * T * D * 16 * 64 + 2 * 24**3 * 16 * 1 * 64  # the two 4^3 stride-4 transposed convolutions
hand_vit = embed + L * per_layer + deconv

# Sliding-window windows on the validation volume (MONAI's own slicing, as sliding_window_inference).
shape = tuple(int(s) for s in a.val_shape.split(","))
padded = tuple(max(s, r) for s, r in zip(shape, ROI))
windows = len(dense_patch_slices(padded, ROI, _get_scan_interval(padded, ROI, 3, (0.25,) * 3)))

G = 1e9
print("counted FLOPs (FlopCounterMode, 2 per multiply-add), samples of 96^3")
for name, v in [
    ("ViTAutoEnc forward, 1 sample", vit_fwd1),
    ("  the same by hand (patch GEMM + 12 layers + 2 deconvs)", hand_vit),
    ("pretraining step forward: 2 views x 8 samples", ssl_fwd),
    ("pretraining step forward + backward", ssl_all),
    ("UNETR forward, 1 sample (= 1 sliding window)", unetr_fwd1),
    ("fine-tuning step forward: 4 samples", seg_fwd),
    ("fine-tuning step forward + backward", seg_all),
]:
    print(f"  {name:58s} {v / G:9.1f} GFLOP")
print(f"  backward / forward: pretraining {(ssl_all - ssl_fwd) / ssl_fwd:.2f}, "
      f"fine-tuning {(seg_all - seg_fwd) / seg_fwd:.2f}")

print("memory traffic of one step, f32, unfused (every non-view op's inputs + outputs)")
for name, v in [("pretraining step (MONAI's broadcast contrastive loss included)", ssl_bytes),
                ("  the ViTAutoEnc alone on the 16 views, L1 loss", vit_bytes),
                ("fine-tuning step", seg_bytes)]:
    print(f"  {name:58s} {v / G:9.1f} GB: {v / 4.8e12 * 1e3:5.1f} ms at H200's 4.8 TB/s, "
          f"{v / 3.35e12 * 1e3:5.1f} ms at H100's 3.35")

# Whole runs.
pre_steps = math.ceil(600 / 4) * 500
pre_val = 250 * 171 * 2 * vit_fwd1  # 342 samples, view 1 forward only
ft_steps = 30000
ft_val = 299 * 6 * windows * unetr_fwd1
runs = [
    ("pretraining train: 150 steps x 500 epochs", pre_steps * ssl_all),
    ("pretraining validation: 250 x 342 samples, forward", pre_val),
    ("fine-tuning train: 30 000 steps", ft_steps * seg_all),
    (f"fine-tuning validation: 299 x 6 vols x {windows} windows", ft_val),
]
peaks = [("FP32 67", 67e12), ("TF32 495", 494.5e12), ("BF16 989", 989e12)]
print(f"\nvalidation volume {shape}: {windows} windows of 96^3 (overlap 0.25)")
print(f"minutes on one H100 SXM / H200 at {a.mfu:.0%} MFU (NVIDIA's dense peaks, TFLOP/s)")
print(f"{'run':58s} {'PFLOP':>8s}" + "".join(f" {n:>10s}" for n, _ in peaks))
runs.insert(2, ("pretraining total", runs[0][1] + runs[1][1]))
runs.append(("fine-tuning total", runs[3][1] + runs[4][1]))
for name, f in runs:
    print(f"{name:58s} {f / 1e15:8.1f}" + "".join(f" {f / (a.mfu * pk) / 60:10.3g}" for _, pk in peaks))
print(f"\nstep time at {a.mfu:.0%} MFU, s (pretraining 8 crops / fine-tuning 4 crops)")
for n, pk in peaks:
    s1, s2 = ssl_all / (a.mfu * pk), seg_all / (a.mfu * pk)
    print(f"  {n:10s} pretraining {s1:7.3f} s ({8 / s1:6.1f} crops/s)   fine-tuning {s2:7.3f} s ({4 / s2:6.1f} crops/s)")
