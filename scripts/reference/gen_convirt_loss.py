"""ConVIRT's image–text loss as its reference implementation computes it, for tests/it/convirt_loss.rs.

Made with torch 2.6.0 (CPU build) by
    pip install torch numpy
    python3 scripts/reference/gen_convirt_loss.py tests/fixtures/convirt_loss.json

The loss is `NTXentLoss.forward` of the public ConVIRT implementation (edreisMD/ConVIRT-pytorch,
loss/nt_xent.py; Zhang et al. 2020), written out below: both embeddings L2-normalised, image→text
logits `z_img · z_txtᵀ / T` and text→image logits, each a soft cross-entropy against the identity
(the batch's own pairs), `alpha_weight · image→text + (1 − alpha_weight) · text→image`. Its
`use_cosine_similarity` setting is accepted and unused there. Inputs are formula tensors (monai_formula's
rule `formula("<case>.image", (B, D))`, scaled, and the text's plus half the image's, so pairs agree a
little); recorded per case: shapes, temperature, alpha, the two directions, the loss, and the loss's
gradient with respect to each input (every value where there are at most 256, and its sums).
"""
import json, os, sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from monai_formula import formula  # noqa: E402


def soft_xent(target, logits):
    logprobs = F.log_softmax(logits, dim=1)
    return -(target * logprobs).sum() / logits.shape[0]


def convirt(zis, zjs, temperature, alpha):
    zis = F.normalize(zis, p=2, dim=1)
    zjs = F.normalize(zjs, p=2, dim=1)
    batch_size = zis.shape[0]
    labels = F.one_hot(torch.arange(start=0, end=batch_size, dtype=torch.int64), num_classes=batch_size).float()
    logits_ab = torch.matmul(zis, torch.transpose(zjs, 0, 1)) / temperature
    logits_ba = torch.matmul(zjs, torch.transpose(zis, 0, 1)) / temperature
    loss_a = soft_xent(labels, logits_ab)
    loss_b = soft_xent(labels, logits_ba)
    return alpha * loss_a + (1 - alpha) * loss_b, loss_a, loss_b


cases = []
for name, b, dim, t, alpha, scale in [("reference_config", 8, 16, 0.1, 0.75, 3.0),
                                       ("one_direction", 4, 8, 0.1, 1.0, 1.0),
                                       ("warm", 6, 12, 0.5, 0.25, 5.0),
                                       ("batch_32_dim_512", 32, 512, 0.1, 0.75, 2.0)]:
    image = (formula(f"{name}.image", (b, dim)) * scale).requires_grad_()
    text = (formula(f"{name}.text", (b, dim)) * scale + 0.5 * image.detach()).requires_grad_()
    loss, a, bb = convirt(image, text, t, alpha)
    loss.backward()
    case = {"name": name, "batch": b, "dim": dim, "temperature": t, "alpha_weight": alpha,
            "scale": scale, "image_to_text": a.item(), "text_to_image": bb.item(), "loss": loss.item()}
    for key, g in [("image_grad", image.grad), ("text_grad", text.grad)]:
        g = g.double().flatten()
        # Every value of the small cases' gradients; the sums of the large one's.
        case[key] = {"abs_sum": g.abs().sum().item(), "sq_sum": (g * g).sum().item(),
                     "values": g.tolist() if g.numel() <= 256 else None}
    cases.append(case)
json.dump({"torch": torch.__version__, "cases": cases}, open(sys.argv[1], "w"))
print([(c["name"], round(c["loss"], 5)) for c in cases])
