"""MONAI's SegResNet on formula weights and inputs, for tests/it/segresnet.rs.

Made with MONAI 1.5.0 and torch 2.6.0 (CPU build) by
    pip install "monai==1.5.0" torch numpy
    python3 scripts/reference/gen_monai_segresnet.py tests/fixtures/monai_segresnet.json

Weights and inputs follow the shared reference set's gen_vectors.py formulas (see
gen_monai_dynunet.py's header): weight(key, j) = f32(1 + 0.1*sin(0.1*(j+1) + h(key))) for
"<norm|norm1|norm2>.weight", f32(0.05*sin(0.1*(j+1) + h(key))) otherwise, h(key) = (sum of the
key's utf8 bytes % 1000) / 100; input(j) = f32(sin(freq*j + phase)) over the flat C-order index.
Per network: its SegResNet arguments, the state-dict keys and shapes, the parameter count, the input,
and a summary of the output (sum, |sum|, sum of squares, min, max, 73 samples at fixed flat indices).
"""
import json, os, sys

import monai
import numpy as np
import torch
from monai.networks.nets import SegResNet

torch.set_num_threads(2)
torch.set_grad_enabled(False)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from monai_formula import formula, formula_input, summary  # noqa: E402



def entry(args, input_shape, phase=0.3, freq=0.013):
    model = SegResNet(spatial_dims=3, **{k: v for k, v in args.items() if k != "norm_groups"},
                      norm=("GROUP", {"num_groups": args["norm_groups"]}))
    sd = model.state_dict()
    model.load_state_dict({k: formula(k, tuple(v.shape)) for k, v in sd.items()})
    x = formula_input(input_shape, phase, freq)
    y = model.eval()(x)
    out = {"args": args, "input": {"shape": list(input_shape), "phase": phase, "freq": freq},
           "state_dict_keys": {k: list(v.shape) for k, v in sd.items()},
           "parameters": sum(p.numel() for p in model.parameters()), "out": summary(y)}
    out["out"]["shape"] = list(y.shape)
    return out


res = {"monai": monai.__version__, "torch": torch.__version__, "numpy": np.__version__, "networks": {}}
res["networks"]["tiny"] = entry(
    dict(init_filters=4, in_channels=1, out_channels=3, norm_groups=2, blocks_down=[1, 2, 2], blocks_up=[1, 1]),
    (2, 1, 16, 16, 12))
# MONAI's defaults (blocks 1, 2, 2, 4 down and 1, 1, 1 up, 8 groups) at 16 initial filters, as MONAI's
# segmentation tutorials use it, for BTCV's 14 classes at 96³.
res["networks"]["full_96"] = entry(
    dict(init_filters=16, in_channels=1, out_channels=14, norm_groups=8, blocks_down=[1, 2, 2, 4], blocks_up=[1, 1, 1]),
    (1, 1, 96, 96, 96))
json.dump(res, open(sys.argv[1], "w"))
for name, e in res["networks"].items():
    print(name, e["parameters"], e["out"]["shape"], len(e["state_dict_keys"]), "keys")
