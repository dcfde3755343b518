"""The formula weights, inputs and output summaries shared by gen_monai_dynunet.py and
gen_monai_segresnet.py (the shared reference set's gen_vectors.py rule; see either script's header)."""
import numpy as np
import torch


def h(key):
    return (sum(key.encode()) % 1000) / 100.0


def is_norm_w(k):
    return k.endswith(".weight") and k.split(".")[-2] in ("norm", "norm1", "norm2", "norm_cross_attn")


def formula(key, shape):
    n = int(np.prod(shape))
    s = np.sin(0.1 * (np.arange(n, dtype=np.float64) + 1) + h(key))
    val = (1.0 + 0.1 * s) if is_norm_w(key) else 0.05 * s
    return torch.tensor(val.astype(np.float32).reshape(shape))


def formula_input(shape, phase, freq):
    n = int(np.prod(shape))
    return torch.tensor(np.sin(freq * np.arange(n, dtype=np.float64) + phase).astype(np.float32).reshape(shape))


def summary(t):
    t = t.detach().double().flatten()
    n = t.numel()
    idx = [0, 1, 2, n // 7, n // 3, n // 2, (2 * n) // 3, n - 2, n - 1]
    spread = np.linspace(0, n - 1, 64).astype(int).tolist()
    return {"shape": None, "sum": t.sum().item(), "abs_sum": t.abs().sum().item(), "sq_sum": (t * t).sum().item(),
            "min": t.min().item(), "max": t.max().item(),
            "samples": {str(i): t[i].item() for i in sorted(set(idx + spread))}}
