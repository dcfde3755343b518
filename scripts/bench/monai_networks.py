"""Times MONAI's tutorial networks on CPU like `ssl-bench --model vitautoenc|unetr|dice-ce`, for
docs/BENCHMARKS.md: forward (no grad), forward + backward, and one tutorial training step at 96³.

    pip install "monai==1.5.0" torch
    python3 scripts/bench/monai_networks.py [vitautoenc|unetr|dice-ce] [--batch B] [--repeat R] [--threads T]
Two warm-ups (as ssl-bench: a training step reaches its steady state on its second run), then
the median of R repetitions (default 3), 2 threads by default.
"""
import argparse, statistics, time
import torch
from monai.losses import ContrastiveLoss, DiceCELoss
from monai.networks.nets import UNETR, ViTAutoEnc

p = argparse.ArgumentParser()
p.add_argument("model", choices=["vitautoenc", "unetr", "dice-ce"])
p.add_argument("--batch", type=int, default=1)
p.add_argument("--repeat", type=int, default=3)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
shape = (a.batch, 1, 96, 96, 96)


def timed(f):
    f()
    f()
    times = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


if a.model == "vitautoenc":
    model = ViTAutoEnc(in_channels=1, img_size=(96, 96, 96), patch_size=(16, 16, 16), proj_type="conv",
                       hidden_size=768, mlp_dim=3072)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    recon, contrastive = torch.nn.L1Loss(), ContrastiveLoss(temperature=0.05)

    def loss():
        x, x2, gt = torch.rand(shape), torch.rand(shape), torch.rand(shape)
        y1, _ = model(x)
        y2, _ = model(x2)
        r = recon(y1, gt)
        c = contrastive(y1.flatten(start_dim=1), y2.flatten(start_dim=1))
        return r + c * r
elif a.model == "unetr":
    model = UNETR(in_channels=1, out_channels=14, img_size=(96, 96, 96), feature_size=16, hidden_size=768,
                  mlp_dim=3072, num_heads=12, proj_type="conv", norm_name="instance", res_block=True,
                  dropout_rate=0.0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-5)
    dice_ce = DiceCELoss(to_onehot_y=True, softmax=True)

    def loss():
        x = torch.rand(shape)
        y = torch.randint(0, 14, shape).float()
        return dice_ce(model(x), y)
else:
    dice_ce = DiceCELoss(to_onehot_y=True, softmax=True)
    logits = torch.rand((a.batch, 14, 96, 96, 96)) * 6 - 3
    labels = torch.randint(0, 14, shape).float()

    def forward():
        with torch.no_grad():
            dice_ce(logits, labels)

    def fwd_bwd():
        x = logits.clone().requires_grad_()
        dice_ce(x, labels).backward()

    print(f"MONAI DiceCE 14x96^3 batch {a.batch}, {a.threads} threads: forward {timed(forward):.3f} s, "
          f"forward+backward {timed(fwd_bwd):.3f} s (median of {a.repeat})")
    raise SystemExit


def forward():
    with torch.no_grad():
        model(torch.rand(shape))


def fwd_bwd():
    model.zero_grad()
    loss().backward()


def step():
    opt.zero_grad()
    loss().backward()
    opt.step()


print(f"MONAI {a.model} 96^3 batch {a.batch}, {a.threads} threads, torch {torch.__version__}: "
      f"forward {timed(forward):.3f} s, forward+backward {timed(fwd_bwd):.3f} s, "
      f"training step {timed(step):.3f} s (median of {a.repeat})")
