"""Times MONAI's tutorial networks like `ssl-bench --model vitautoenc|unetr|dynunet|segresnet|swin-unetr|dice-ce`, for
docs/BENCHMARKS.md: forward (no grad), forward + backward, and one tutorial training step;
`sliding-window` times the fine-tuning tutorial's validation inference (UNETR, random weights,
`sliding_window_inference(x, (S,S,S), 4, model)`, overlap 0.25) over one --volume, as
`ssl-bench --model sliding-window` does.

    pip install "monai==1.5.0" torch einops
    python3 scripts/bench/monai_networks.py [vitautoenc|unetr|dynunet|segresnet|swin-unetr|dice-ce|sliding-window] [--batch B]
        [--repeat R] [--threads T] [--device cpu|cuda] [--size S] [--volume X Y Z]
        [--precision f32|bf16] [--json]
Two warm-ups (as ssl-bench: a training step reaches its steady state on its second run), then
the median of R repetitions (default 3), 2 CPU threads by default. On CUDA every timing ends with
a synchronisation, and the peak of allocated GPU memory is reported; `--precision bf16` runs the
model under `torch.autocast(dtype=bfloat16)` (f32 weights, bf16 matrix products), PyTorch's usual
mixed precision. `--json` prints one JSON object (what scripts/gpu_check.sh collects).
"""
import argparse, contextlib, json, statistics, time
import torch
from monai.inferers import sliding_window_inference
from monai.losses import ContrastiveLoss, DiceCELoss
from monai.networks.nets import UNETR, DynUNet, SegResNet, SwinUNETR, ViTAutoEnc

p = argparse.ArgumentParser()
p.add_argument("model", choices=["vitautoenc", "unetr", "dynunet", "segresnet", "swin-unetr", "dice-ce",
                                 "sliding-window"])
p.add_argument("--batch", type=int, default=1)
p.add_argument("--repeat", type=int, default=3)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--device", default="cpu")
p.add_argument("--size", type=int, default=96)
p.add_argument("--volume", type=int, nargs=3, default=[260, 260, 180])
p.add_argument("--precision", choices=["f32", "bf16"], default="f32")
p.add_argument("--json", action="store_true")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
dev = torch.device(a.device)
cuda = dev.type == "cuda"
shape = (a.batch, 1, a.size, a.size, a.size)


def autocast():
    if a.precision == "bf16":
        return torch.autocast(device_type=dev.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def timed(f):
    def run():
        f()
        if cuda:
            torch.cuda.synchronize(dev)

    run()
    run()
    times = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def rand(*s):
    return torch.rand(s, device=dev)


def tutorial_unetr(size):
    return UNETR(in_channels=1, out_channels=14, img_size=(size,) * 3, feature_size=16, hidden_size=768,
                 mlp_dim=3072, num_heads=12, proj_type="conv", norm_name="instance", res_block=True,
                 dropout_rate=0.0).to(dev)


if a.model == "sliding-window":
    model = tutorial_unetr(a.size).eval()
    i, j, k = torch.meshgrid(*(torch.arange(n, dtype=torch.float32) for n in a.volume), indexing="ij")
    volume = (((i * 0.031 + j * 0.017 + k * 0.023).sin() + 1) / 2)[None, None].to(dev)

    def infer():
        with torch.no_grad(), autocast():
            sliding_window_inference(volume, (a.size,) * 3, 4, model)

    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    seconds = timed(infer)
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if cuda else None
    if a.json:
        import monai
        print(json.dumps({"model": a.model, "volume": a.volume, "window": a.size, "device": a.device,
                          "precision": a.precision, "seconds": seconds, "peak_allocated_mib": peak,
                          "torch": torch.__version__, "monai": monai.__version__}))
    else:
        print(f"MONAI sliding window over {a.volume} ({a.size}^3 windows) on {a.device} ({a.precision}): "
              f"{seconds:.3f} s (median of {a.repeat})"
              + (f", peak allocated {peak:.0f} MiB" if peak is not None else ""))
    raise SystemExit

if a.model == "vitautoenc":
    model = ViTAutoEnc(in_channels=1, img_size=(a.size,) * 3, patch_size=(16, 16, 16), proj_type="conv",
                       hidden_size=768, mlp_dim=3072).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    recon, contrastive = torch.nn.L1Loss(), ContrastiveLoss(temperature=0.05)

    def loss():
        x, x2, gt = rand(*shape), rand(*shape), rand(*shape)
        with autocast():
            y1, _ = model(x)
            y2, _ = model(x2)
        y1, y2 = y1.float(), y2.float()
        r = recon(y1, gt)
        c = contrastive(y1.flatten(start_dim=1), y2.flatten(start_dim=1))
        return r + c * r
elif a.model in ("unetr", "dynunet", "segresnet", "swin-unetr"):
    if a.model == "swin-unetr":
        # The BTCV Swin UNETR tutorial's network, without its gradient checkpointing (which trades
        # time for memory).
        model = SwinUNETR(in_channels=1, out_channels=14, feature_size=48).to(dev)
    elif a.model == "unetr":
        model = tutorial_unetr(a.size)
    elif a.model == "dynunet":
        # nnU-Net's plan for size³ crops as ssl3d's DynUnetConfig::nnunet_plan makes it (96: four
        # halvings to 6), plain blocks, no deep supervision.
        strides, side = [[1, 1, 1]], a.size
        while side % 2 == 0 and side // 2 >= 4 and len(strides) < 6:
            strides.append([2, 2, 2])
            side //= 2
        model = DynUNet(3, 1, 14, kernel_size=[[3, 3, 3]] * len(strides), strides=strides,
                        upsample_kernel_size=strides[1:]).to(dev)
    else:
        model = SegResNet(3, init_filters=16, in_channels=1, out_channels=14).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-5)
    dice_ce = DiceCELoss(to_onehot_y=True, softmax=True)

    def loss():
        x = rand(*shape)
        y = torch.randint(0, 14, shape, device=dev).float()
        with autocast():
            logits = model(x)
        return dice_ce(logits.float(), y)
else:
    dice_ce = DiceCELoss(to_onehot_y=True, softmax=True)
    logits = rand(a.batch, 14, a.size, a.size, a.size) * 6 - 3
    labels = torch.randint(0, 14, shape, device=dev).float()

    def forward():
        with torch.no_grad():
            dice_ce(logits, labels)

    def fwd_bwd():
        x = logits.clone().requires_grad_()
        dice_ce(x, labels).backward()

    fwd, fb = timed(forward), timed(fwd_bwd)
    if a.json:
        print(json.dumps({"model": a.model, "batch": a.batch, "size": a.size, "device": a.device,
                          "forward_s": fwd, "forward_backward_s": fb, "torch": torch.__version__}))
    else:
        print(f"MONAI DiceCE 14x{a.size}^3 batch {a.batch} on {a.device}, {a.threads} threads: forward {fwd:.3f} s, "
              f"forward+backward {fb:.3f} s (median of {a.repeat})")
    raise SystemExit


def forward():
    with torch.no_grad(), autocast():
        model(rand(*shape))


def fwd_bwd():
    model.zero_grad()
    loss().backward()


def step():
    opt.zero_grad()
    loss().backward()
    opt.step()


if cuda:
    torch.cuda.reset_peak_memory_stats(dev)
fwd, fb, st = timed(forward), timed(fwd_bwd), timed(step)
peak = torch.cuda.max_memory_allocated(dev) / 2**20 if cuda else None
if a.json:
    import monai
    print(json.dumps({"model": a.model, "batch": a.batch, "size": a.size, "device": a.device,
                      "precision": a.precision, "forward_s": fwd, "forward_backward_s": fb, "step_s": st,
                      "peak_allocated_mib": peak, "torch": torch.__version__, "monai": monai.__version__}))
else:
    print(f"MONAI {a.model} {a.size}^3 batch {a.batch} on {a.device} ({a.precision}), {a.threads} threads, "
          f"torch {torch.__version__}: forward {fwd:.3f} s, forward+backward {fb:.3f} s, "
          f"training step {st:.3f} s (median of {a.repeat})"
          + (f", peak allocated {peak:.0f} MiB" if peak is not None else ""))
