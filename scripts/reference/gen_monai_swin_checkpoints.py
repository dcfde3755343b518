"""Swin checkpoints in the layouts users have, written by torch.save, for tests/it/swin_checkpoints.rs.

Made with MONAI 1.5.0 and torch 2.6.0 (CPU build) by
    pip install "monai==1.5.0" torch numpy
    python3 scripts/reference/gen_monai_swin_checkpoints.py OUT_DIR

OUT_DIR is a reference set's `monai/checkpoints/` folder (the shared set's layout); the files are
weights and are never committed. One tiny SwinUNETR (v1, feature size 12, 4³ windows) with the
formula weights of monai_formula.py is saved as:
- swin_published_backbone.pt: the published self-supervised backbone's layout (`model_swinvit.pt`):
  {"state_dict": {"module.patch_embed.…", "module.layers1.0.blocks.0.mlp.fc1.…", …}} with the int64
  `relative_position_index` buffers; MONAI's own `SwinUNETR.load_from` reads this file here, and the
  script checks that the network it fills gives the same hidden states;
- swin_sslhead_checkpoint.pt: the research code's self-supervised pretraining checkpoint,
  {"epoch", "state_dict", "optimizer"} with `module.swinViT.…` and the rotation, contrastive and
  reconstruction heads (`rotation_head`, `contrastive_head`, `conv.…`), as DDP saves them;
- swin_unetr_ddp_state_dict.pt: a whole SwinUNETR state dict from DistributedDataParallel
  (`module.swinViT.…`, `module.decoder1.…`, `module.out.…`).
- swin_checkpoints.json: MONAI's arguments, the formula input, the summaries of MONAI's five
  normalised hidden states on it (each with `f32_noise`, MONAI's largest |float32 − float64|, as
  gen_monai_swin_unetr.py records it), and per file its layout and how many tensors it holds.
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

out_dir = sys.argv[1]
os.makedirs(out_dir, exist_ok=True)
args = dict(in_channels=1, out_channels=3, feature_size=12, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4],
            window_size=[4, 4, 4])
model = SwinUNETR(spatial_dims=3, **args)
sd = model.state_dict()
model.load_state_dict({k: formula(k, tuple(v.shape)) for k, v in sd.items()
                       if not k.endswith("relative_position_index")}, strict=False)
model.eval()
sd = model.state_dict()
shape, phase, freq = (1, 1, 32, 32, 64), 0.3, 0.013
x = formula_input(shape, phase, freq)
hidden = model.swinViT(x, model.normalize)
# MONAI's own float32 rounding of each hidden state (its largest |float32 − float64|): the last
# state is layer-normed over few voxels, where rounding alone moves a sum that cancels to ~0.
model64 = SwinUNETR(spatial_dims=3, **args)
model64.load_state_dict(model.state_dict())
model64 = model64.double().eval()
hidden64 = model64.swinViT(x.double(), model64.normalize)

published = {}
for k, v in sd.items():
    if k.startswith("swinViT."):
        k = k[len("swinViT."):].replace(".mlp.linear1.", ".mlp.fc1.").replace(".mlp.linear2.", ".mlp.fc2.")
        published["module." + k] = v.clone()
torch.save({"state_dict": published}, os.path.join(out_dir, "swin_published_backbone.pt"))
# MONAI's own reader of the published layout fills a fresh network the same way.
fresh = SwinUNETR(spatial_dims=3, **args).eval()
fresh.load_from(torch.load(os.path.join(out_dir, "swin_published_backbone.pt")))
for a, b in zip(fresh.swinViT(x, True), hidden):
    assert torch.equal(a, b), "load_from did not reproduce the backbone"

dim = 16 * args["feature_size"]
heads = {"rotation_head.weight": (4, dim), "rotation_head.bias": (4,),
         "contrastive_head.weight": (512, dim), "contrastive_head.bias": (512,),
         "conv.0.weight": (dim // 2, dim, 3, 3, 3), "conv.0.bias": (dim // 2,)}
ssl = {"module." + k: v.clone() for k, v in sd.items() if k.startswith("swinViT.")}
ssl.update({"module." + k: formula(k, s) for k, s in heads.items()})
torch.save({"epoch": 3, "state_dict": ssl, "optimizer": {"state": {}, "param_groups": []}},
           os.path.join(out_dir, "swin_sslhead_checkpoint.pt"))

ddp = {"module." + k: v.clone() for k, v in sd.items()}
torch.save(ddp, os.path.join(out_dir, "swin_unetr_ddp_state_dict.pt"))


def described(t, t64):
    s = summary(t)
    s["shape"] = list(t.shape)
    s["f32_noise"] = (t.double() - t64).abs().max().item()
    return s


index = sum(1 for k in sd if k.endswith("relative_position_index"))
res = {"monai": monai.__version__, "torch": torch.__version__, "args": args,
       "input": {"shape": list(shape), "phase": phase, "freq": freq},
       "hidden_states": [described(h, h64) for h, h64 in zip(hidden, hidden64)],
       "files": {
           "swin_published_backbone.pt": {"layout": "published", "tensors": len(published),
                                          "index_buffers": index},
           "swin_sslhead_checkpoint.pt": {"layout": "sslhead", "tensors": len(ssl), "index_buffers": index,
                                          "heads": len(heads)},
           "swin_unetr_ddp_state_dict.pt": {"layout": "swinunetr_ddp", "tensors": len(ddp),
                                            "index_buffers": index},
       }}
json.dump(res, open(os.path.join(out_dir, "swin_checkpoints.json"), "w"), indent=1)
print({k: v["tensors"] for k, v in res["files"].items()})
