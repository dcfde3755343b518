"""MONAI's DynUNet (nnU-Net's network) on formula weights and inputs, for tests/it/dynunet.rs.

Made with MONAI 1.5.0 and torch 2.6.0 (CPU build) by
    pip install "monai==1.5.0" torch numpy
    python3 scripts/reference/gen_monai_dynunet.py tests/fixtures/monai_dynunet.json

Weights and inputs follow the shared reference set's gen_vectors.py formulas, so a port rebuilds
them without shipping weights:
    weight(key, j) = f32(1 + 0.1*sin(0.1*(j+1) + h(key))) for "<norm|norm1|norm2|norm_cross_attn>.weight",
                     f32(0.05*sin(0.1*(j+1) + h(key))) otherwise;
    h(key) = (sum of the key's utf8 bytes % 1000) / 100; j = flat C-order index inside the tensor;
    input(j) = f32(sin(freq*j + phase)) over the flat C-order index of (B, C, X, Y, Z).
DynUNet's state dict holds every parameter twice: under its own name (input_block, downsamples.N,
bottleneck, upsamples.N, output_block, deep_supervision_heads.N) and again under `skip_layers.…`
(the recursive module that runs them). The formula is applied to the own names; `aliases` maps
each `skip_layers.…` key to the own name it shares its tensor with.

Per network: its DynUNet arguments, the state-dict keys and shapes, the parameter count, the
input's shape and formula, and summaries (sum, |sum|, sum of squares, min, max, 9 samples at fixed
flat indices, plus 64 evenly spaced samples) of the eval-mode output and, with deep supervision, of
the training-mode output (B, 1 + deep_supr_num, C, X, Y, Z) and MONAI's
DeepSupervisionLoss(DiceCELoss(to_onehot_y=True, softmax=True)) on its unbound levels in each weight
mode (`deep_supervision_loss`; the labels' formula is stored beside the values).
"""
import json, os, sys

import monai
import numpy as np
import torch
from monai.losses import DeepSupervisionLoss, DiceCELoss
from monai.networks.nets import DynUNet

torch.set_num_threads(2)
torch.set_grad_enabled(False)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from monai_formula import formula, formula_input, summary  # noqa: E402



def entry(args, input_shape, phase=0.3, freq=0.013):
    model = DynUNet(spatial_dims=3, **args)
    sd = model.state_dict(keep_vars=True)
    own = {k: v for k, v in sd.items() if not k.startswith("skip_layers.")}
    by_tensor = {id(v): k for k, v in own.items()}
    aliases = {k: by_tensor[id(v)] for k, v in sd.items() if k.startswith("skip_layers.")}
    model.load_state_dict({k: formula(k, tuple(v.shape)) for k, v in own.items()}, strict=False)
    for k, v in model.state_dict().items():  # the aliases hold the own names' values
        assert torch.equal(v, model.state_dict()[aliases.get(k, k)])
    x = formula_input(input_shape, phase, freq)
    out = {"args": args, "input": {"shape": list(input_shape), "phase": phase, "freq": freq},
           "state_dict_keys": {k: list(v.shape) for k, v in sd.items()}, "aliases": aliases,
           "parameters": sum(p.numel() for p in model.parameters())}
    model.eval()
    y = model(x)
    out["eval_out"] = summary(y)
    out["eval_out"]["shape"] = list(y.shape)
    if args.get("deep_supervision"):
        model.train()
        y = model(x)
        out["train_out"] = summary(y)
        out["train_out"]["shape"] = list(y.shape)
        # DeepSupervisionLoss(DiceCELoss) over the unbound levels, as MONAI's DynUNet tutorials
        # call it, against labels clip(floor((sin(freq*j + phase) + 1) * scale), 0, C - 1).
        c = args["out_channels"]
        spec = {"scale": 1.5, "phase": 0.2, "freq": 0.05, "clip": [0, c - 1]}
        shape = (input_shape[0], 1, *input_shape[2:])
        j = np.arange(int(np.prod(shape)), dtype=np.float64)
        label = torch.tensor(np.clip(np.floor((np.sin(spec["freq"] * j + spec["phase"]) + 1) * spec["scale"]),
                                     0, c - 1).astype(np.float32).reshape(shape))
        levels = torch.unbind(y, dim=1)
        dice_ce = DiceCELoss(to_onehot_y=True, softmax=True)
        out["deep_supervision_loss"] = {"label": spec, **{
            mode: DeepSupervisionLoss(dice_ce, weight_mode=mode)(list(levels), label).item()
            for mode in ("exp", "same", "two")}}
    return out


res = {"monai": monai.__version__, "torch": torch.__version__, "numpy": np.__version__, "networks": {}}
res["networks"]["tiny_basic"] = entry(
    dict(in_channels=1, out_channels=3, kernel_size=[[3, 3, 3]] * 4,
         strides=[[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 1]], upsample_kernel_size=[[2, 2, 2], [2, 2, 2], [2, 2, 1]],
         filters=[4, 8, 12, 16]),
    (2, 1, 16, 16, 12))
res["networks"]["tiny_res_deep_supervision"] = entry(
    dict(in_channels=1, out_channels=3, kernel_size=[[3, 3, 3], [3, 3, 3], [3, 3, 1], [3, 3, 3]],
         strides=[[1, 1, 1], [2, 2, 2], [2, 2, 1], [2, 2, 2]], upsample_kernel_size=[[2, 2, 2], [2, 2, 1], [2, 2, 2]],
         filters=[4, 6, 8, 10], res_block=True, deep_supervision=True, deep_supr_num=2, trans_bias=True),
    (1, 1, 16, 16, 8), phase=1.1)
# nnU-Net's plan for 96³ crops: halve until a side reaches 4–8 voxels (96 → 6), 3³ kernels, filters
# 32 doubling to 320 (MONAI's default filters), 14 classes.
res["networks"]["full_96"] = entry(
    dict(in_channels=1, out_channels=14, kernel_size=[[3, 3, 3]] * 5, strides=[[1, 1, 1]] + [[2, 2, 2]] * 4,
         upsample_kernel_size=[[2, 2, 2]] * 4, res_block=True),
    (1, 1, 96, 96, 96))
json.dump(res, open(sys.argv[1], "w"))
for name, e in res["networks"].items():
    print(name, e["parameters"], e["eval_out"]["shape"], len(e["state_dict_keys"]), "keys")
