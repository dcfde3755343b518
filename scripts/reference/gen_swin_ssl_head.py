"""The self-supervised Swin pretraining of Tang et al. (CVPR 2022) on formula weights and inputs, for
tests/it/swin_pretrain.rs.

Made with MONAI 1.5.0 and torch 2.6.0 (CPU build) by
    pip install "monai==1.5.0" torch numpy
    python3 scripts/reference/gen_swin_ssl_head.py tests/fixtures/swin_ssl_head.json

The model and loss are those of MONAI's research code (Project-MONAI/research-contributions,
SwinUNETR/Pretrain: models/ssl_head.py with its default "vae" decoder, losses/loss.py, utils/ops.py
`rot_rand`), written out below with MONAI's own SwinTransformer, at a tiny size: feature size 12
(so the heads see 16 · 12 = 192 channels where the research code's 48 gives its 768), 4³ windows.
Weights and inputs follow monai_formula.py. Recorded: the state-dict keys and shapes; the input
`x` (two clean crops) and each crop turned by `rot90(k, (2, 3))` for k = 0…3 (summaries); for two
fixed "augmented" inputs (other formula phases) and rotation labels, the model's rotation logits
(every value), contrastive and reconstruction outputs (summaries) and the loss terms: rotation
cross-entropy, the contrastive loss at temperature 0.5, L1 of the reconstructions against the
rotated clean crops, and their sum. `loss_only`: the rotation cross-entropy and the contrastive loss
on formula tensors far from uniform (`loss_only.rotation` (4, 4) × 40 with the same labels;
`loss_only.contrastive1` (2, 512) × 10 and that plus `loss_only.contrastive2` × 10), where the tiny
network's own outputs are nearly uniform.
"""
import json, os, sys

import monai
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.nets.swin_unetr import SwinTransformer

torch.set_num_threads(2)
torch.set_grad_enabled(False)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from monai_formula import formula, formula_input, summary  # noqa: E402


class SSLHead(nn.Module):
    """The research code's SSLHead with its "vae" decoder, for any feature size."""

    def __init__(self, in_channels, feature_size, depths, num_heads, window_size):
        super().__init__()
        dim = 16 * feature_size
        self.swinViT = SwinTransformer(in_chans=in_channels, embed_dim=feature_size, window_size=window_size,
                                       patch_size=(2, 2, 2), depths=depths, num_heads=num_heads, mlp_ratio=4.0,
                                       qkv_bias=True, norm_layer=nn.LayerNorm, spatial_dims=3)
        self.rotation_pre = nn.Identity()
        self.rotation_head = nn.Linear(dim, 4)
        self.contrastive_pre = nn.Identity()
        self.contrastive_head = nn.Linear(dim, 512)
        layers, c = [], dim
        for out in (dim // 2, dim // 4, dim // 8, dim // 16, dim // 16):
            layers += [nn.Conv3d(c, out, kernel_size=3, stride=1, padding=1), nn.InstanceNorm3d(out),
                       nn.LeakyReLU(), nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False)]
            c = out
        layers.append(nn.Conv3d(c, in_channels, kernel_size=1, stride=1))
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        x_out = self.swinViT(x.contiguous())[4]
        _, c, h, w, d = x_out.shape
        x4 = x_out.flatten(start_dim=2, end_dim=4).transpose(1, 2)
        x_rot = self.rotation_head(self.rotation_pre(x4[:, 0]))
        x_contrastive = self.contrastive_head(self.contrastive_pre(x4[:, 1]))
        x_rec = self.conv(x_out.flatten(start_dim=2, end_dim=4).view(-1, c, h, w, d))
        return x_rot, x_contrastive, x_rec


def contrast(x_i, x_j, temperature=0.5):
    """losses/loss.py's Contrast."""
    batch_size = x_i.shape[0]
    neg_mask = (~torch.eye(batch_size * 2, batch_size * 2, dtype=bool)).float()
    z = torch.cat([F.normalize(x_i, dim=1), F.normalize(x_j, dim=1)], dim=0)
    sim = F.cosine_similarity(z.unsqueeze(1), z.unsqueeze(0), dim=2)
    pos = torch.cat([torch.diag(sim, batch_size), torch.diag(sim, -batch_size)], dim=0)
    nom = torch.exp(pos / temperature)
    denom = neg_mask * torch.exp(sim / temperature)
    return torch.sum(-torch.log(nom / torch.sum(denom, dim=1))) / (2 * batch_size)


def described(t):
    s = summary(t)
    s["shape"] = list(t.shape)
    return s


args = dict(in_channels=1, feature_size=12, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4], window_size=[4, 4, 4])
model = SSLHead(**args)
sd = model.state_dict()
model.load_state_dict({k: formula(k, tuple(v.shape)) for k, v in sd.items()
                       if not k.endswith("relative_position_index")}, strict=False)
model.eval()
shape = (2, 1, 32, 64, 64)
x = formula_input(shape, 0.3, 0.013)
rotated = {str(k): described(x[0].rot90(k, (2, 3))) for k in range(4)}
rot1, rot2 = torch.tensor([1, 3]), torch.tensor([2, 0])
x1 = torch.stack([x[i].rot90(int(rot1[i]), (2, 3)) for i in range(2)])
x2 = torch.stack([x[i].rot90(int(rot2[i]), (2, 3)) for i in range(2)])
x1_aug = formula_input(shape, 0.7, 0.011)
x2_aug = formula_input(shape, 1.1, 0.017)
rot1_p, c1, rec1 = model(x1_aug)
rot2_p, c2, rec2 = model(x2_aug)
rot_p, rots = torch.cat([rot1_p, rot2_p]), torch.cat([rot1, rot2])
rot_loss = F.cross_entropy(rot_p, rots)
contrast_loss = contrast(c1, c2)
recon_loss = F.l1_loss(torch.cat([rec1, rec2]), torch.cat([x1, x2]))
res = {
    "monai": monai.__version__, "torch": torch.__version__, "args": args,
    "state_dict_keys": {k: list(v.shape) for k, v in sd.items()},
    "input": {"shape": list(shape), "phase": 0.3, "freq": 0.013},
    "augmented": [{"phase": 0.7, "freq": 0.011}, {"phase": 1.1, "freq": 0.017}],
    "rot90_of_crop0": rotated,
    "rotations": [rot1.tolist(), rot2.tolist()],
    "rotation_logits": [rot1_p.flatten().tolist(), rot2_p.flatten().tolist()],
    "contrastive": [described(c1), described(c2)],
    "reconstruction": [described(rec1), described(rec2)],
    "temperature": 0.5,
    "losses": {"rotation": rot_loss.item(), "contrastive": contrast_loss.item(), "recon": recon_loss.item(),
               "total": (rot_loss + contrast_loss + recon_loss).item()},
}
# The loss on outputs far from uniform (the formula network's are nearly so): logits and embeddings
# from the formula rule, scaled.
lo_rot = formula("loss_only.rotation", (4, 4)) * 40.0
lo_c1 = formula("loss_only.contrastive1", (2, 512)) * 10.0
lo_c2 = formula("loss_only.contrastive2", (2, 512)) * 10.0 + lo_c1
lo_rot_loss = F.cross_entropy(lo_rot, rots)
res["loss_only"] = {"rotation_logits": lo_rot.flatten().tolist(), "rotation_scale": 40.0,
                    "contrastive_scale": 10.0,
                    "rotation": lo_rot_loss.item(), "contrastive": contrast(lo_c1, lo_c2).item()}
json.dump(res, open(sys.argv[1], "w"))
print(res["losses"], len(res["state_dict_keys"]), "keys")
