"""MONAI-written checkpoints of the tiny CNN baselines, for tests/it/cnn_checkpoints.rs.

Made with MONAI 1.5.0 and torch 2.6.0 (CPU build) by
    pip install "monai==1.5.0" torch numpy
    python3 scripts/reference/gen_monai_cnn_checkpoints.py OUT_DIR

OUT_DIR is a reference set's `monai/checkpoints/` folder (the shared set's layout); the files are
weights and are never committed. The weights are the formula weights of monai_formula.py (the
shared reference set's gen_vectors.py rule), so a test rebuilds every expected number from the
JSON written beside them:
- dynunet_tiny_best_metric_model.pth: a bare DynUNet state dict as `torch.save(model.state_dict())`
  writes it, with MONAI's `skip_layers.` second names sharing their tensors' storage;
- dynunet_tiny_checkpoint.pt: the pretraining tutorial's format {"epoch", "state_dict", "optimizer"};
- segresnet_tiny_ddp_state_dict.pt: a SegResNet state dict saved from DistributedDataParallel (keys
  start with `module.`).
- cnn_checkpoints.json: per file, the network (`dynunet` or `segresnet`), MONAI's arguments, the
  formula input and the summary of MONAI's eval-mode output on it (monai_formula.summary).
"""
import json, os, sys

import monai
import numpy as np
import torch
from monai.networks.nets import DynUNet, SegResNet

torch.set_num_threads(2)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from monai_formula import formula, formula_input, summary  # noqa: E402

out_dir = sys.argv[1]
os.makedirs(out_dir, exist_ok=True)


def with_formula_weights(model):
    own = {k: v for k, v in model.state_dict().items() if not k.startswith("skip_layers.")}
    model.load_state_dict({k: formula(k, tuple(v.shape)) for k, v in own.items()}, strict=False)
    return model


def described(network, args, model, input_shape, phase, freq):
    model.eval()
    with torch.no_grad():
        y = model(formula_input(input_shape, phase, freq))
    s = summary(y)
    s["shape"] = list(y.shape)
    return {"network": network, "args": args,
            "input": {"shape": list(input_shape), "phase": phase, "freq": freq}, "eval_out": s}


files = {}
dyn_args = dict(in_channels=1, out_channels=3, kernel_size=[[3, 3, 3], [3, 3, 3], [3, 3, 1], [3, 3, 3]],
                strides=[[1, 1, 1], [2, 2, 2], [2, 2, 1], [2, 2, 2]],
                upsample_kernel_size=[[2, 2, 2], [2, 2, 1], [2, 2, 2]], filters=[4, 6, 8, 10],
                res_block=True, deep_supervision=True, deep_supr_num=2, trans_bias=True)
dyn = with_formula_weights(DynUNet(spatial_dims=3, **dyn_args))
torch.save(dyn.state_dict(), os.path.join(out_dir, "dynunet_tiny_best_metric_model.pth"))
optimizer = torch.optim.Adam(dyn.parameters(), 1e-4)
dyn.train()
dyn(formula_input((1, 1, 16, 16, 8), 0.2, 0.01)).mean().backward()
optimizer.step()
optimizer.zero_grad()
with_formula_weights(dyn)  # the step moved them: back to the formula, the optimizer keeps its state
torch.save({"epoch": 3, "state_dict": dyn.state_dict(), "optimizer": optimizer.state_dict()},
           os.path.join(out_dir, "dynunet_tiny_checkpoint.pt"))
for name in ["dynunet_tiny_best_metric_model.pth", "dynunet_tiny_checkpoint.pt"]:
    files[name] = described("dynunet", dyn_args, dyn, (1, 1, 16, 16, 8), 1.1, 0.013)

seg_args = dict(init_filters=4, in_channels=1, out_channels=3, norm_groups=2, blocks_down=[1, 2, 2], blocks_up=[1, 1])
seg = with_formula_weights(SegResNet(spatial_dims=3, **{k: v for k, v in seg_args.items() if k != "norm_groups"},
                                     norm=("GROUP", {"num_groups": seg_args["norm_groups"]})))
torch.save({"module." + k: v for k, v in seg.state_dict().items()},
           os.path.join(out_dir, "segresnet_tiny_ddp_state_dict.pt"))
files["segresnet_tiny_ddp_state_dict.pt"] = described("segresnet", seg_args, seg, (2, 1, 16, 16, 12), 0.3, 0.013)

json.dump({"monai": monai.__version__, "torch": torch.__version__, "numpy": np.__version__, "files": files},
          open(os.path.join(out_dir, "cnn_checkpoints.json"), "w"))
for name, e in files.items():
    print(name, e["network"], e["eval_out"]["shape"])
