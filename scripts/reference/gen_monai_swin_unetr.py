"""MONAI's SwinUNETR on formula weights and inputs, for tests/it/swin_unetr.rs.

Made with MONAI 1.5.0 and torch 2.6.0 (CPU build) by
    pip install "monai==1.5.0" torch numpy
    python3 scripts/reference/gen_monai_swin_unetr.py tests/fixtures/monai_swin_unetr.json

Weights and inputs follow monai_formula.py (the shared reference set's gen_vectors.py rule); the
relative position index is a buffer MONAI computes, not a weight, and keeps its value. Per network:
its SwinUNETR arguments, the state-dict keys and shapes (`relative_position_index` buffers
included), the parameter count, the input's shape and formula, and summaries of the eval-mode
output and of the five normalised hidden states of `swinViT` (the skips the decoder takes), each
with `f32_noise`: the largest difference between MONAI's float32 and float64 results (where a
layer norm divides by a small spread, float32 rounding alone moves a value by that much).
The tiny networks are small enough to shrink the windows at the deep stages (a side at or below the
window size), which exercises MONAI's window and shift adjustment and its relative-position-index
slicing; v1 uses MONAI's original patch merging order, v2 adds the residual conv stages and the
`mergingv2` order. The full-size networks are the BTCV tutorial's (feature_size 48, 14 classes) at
96³, v1 and v2 (MONAI's default merging).
"""
import json, os, sys

import monai
import numpy as np
import torch
from monai.networks.nets import SwinUNETR

torch.set_num_threads(2)
torch.set_grad_enabled(False)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from monai_formula import formula, formula_input, summary  # noqa: E402


def entry(args, input_shape, phase=0.3, freq=0.013):
    model = SwinUNETR(spatial_dims=3, **args)
    sd = model.state_dict()
    weights = {k: formula(k, tuple(v.shape)) for k, v in sd.items() if not k.endswith("relative_position_index")}
    model.load_state_dict(weights, strict=False)
    out = {"args": args, "input": {"shape": list(input_shape), "phase": phase, "freq": freq},
           "state_dict_keys": {k: list(v.shape) for k, v in sd.items()},
           "parameters": sum(p.numel() for p in model.parameters())}
    model.eval()
    x = formula_input(input_shape, phase, freq)
    y = model(x)
    hidden = model.swinViT(x, model.normalize)
    # MONAI's own float32 rounding: the largest |float32 − float64| of each output, so a test can
    # tell a port's rounding from a mistake where a layer norm amplifies it.
    model64 = SwinUNETR(spatial_dims=3, **args)
    model64.load_state_dict(model.state_dict())
    model64 = model64.double().eval()
    y64 = model64(x.double())
    hidden64 = model64.swinViT(x.double(), model64.normalize)

    def described(t, t64):
        s = summary(t)
        s["shape"] = list(t.shape)
        s["f32_noise"] = (t.double() - t64).abs().max().item()
        return s

    out["eval_out"] = described(y, y64)
    out["hidden_states"] = [described(h, h64) for h, h64 in zip(hidden, hidden64)]
    return out


res = {"monai": monai.__version__, "torch": torch.__version__, "numpy": np.__version__, "networks": {}}
tiny = dict(in_channels=1, out_channels=3, feature_size=12, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4],
            window_size=[4, 4, 4])
res["networks"]["tiny_v1"] = entry(tiny, (1, 1, 32, 32, 64))
res["networks"]["tiny_v2"] = entry({**tiny, "use_v2": True, "downsample": "mergingv2", "depths": [1, 2, 1, 1]},
                                   (2, 1, 32, 64, 32), phase=0.9)
# Full size as the BTCV tutorial builds it (feature_size 48, 14 classes, MONAI's other defaults), at 96³.
full = dict(in_channels=1, out_channels=14, feature_size=48)
res["networks"]["full_v1"] = entry(full, (1, 1, 96, 96, 96), phase=0.5)
res["networks"]["full_v2"] = entry({**full, "use_v2": True}, (1, 1, 96, 96, 96), phase=0.7)
json.dump(res, open(sys.argv[1], "w"))
for name, e in res["networks"].items():
    print(name, e["parameters"], e["eval_out"]["shape"], len(e["state_dict_keys"]), "keys")
