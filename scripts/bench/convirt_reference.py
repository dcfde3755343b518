"""Times the ConVIRT reference implementation's training step (edreisMD/ConVIRT-pytorch: models/model.py
`ModelCLR`, loss/nt_xent.py `NTXentLoss`, train.py's Adam) like `ssl-bench --model convirt`, for
docs/BENCHMARKS.md: ResNet-50 on --size² RGB images, BERT-base with Bio_ClinicalBERT's
configuration (random weights: nothing is downloaded) on 24 tokens per image, layers 0-5 frozen,
projections to 512, temperature 0.1, alpha 0.75, Adam 1e-4 with weight decay 1e-6.

    pip install torch==2.6.0 torchvision==0.21.0 transformers==4.46.3
    python3 scripts/bench/convirt_reference.py [--batch 32] [--size 224] [--repeat 3] [--threads 2]
        [--text-grad]

The reference runs its text pooling and projection under `torch.no_grad()`, so its BERT and text
head get no gradients (a known flaw): timed as it is by default; `--text-grad` removes that
`no_grad` (both towers trained, as in ssl3d). Two warm-ups, then the median of --repeat runs of:
forward (no grad), forward + backward of the loss, and one optimiser step.
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from transformers import BertConfig, BertModel

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=32)
p.add_argument("--size", type=int, default=224)
p.add_argument("--repeat", type=int, default=3)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--text-grad", action="store_true")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
TOKENS = 24


class ModelCLR(nn.Module):
    def __init__(self, out_dim=512, freeze_layers=(0, 1, 2, 3, 4, 5)):
        super().__init__()
        self.bert_model = BertModel(BertConfig(vocab_size=28996))
        for i in freeze_layers:
            for prm in self.bert_model.encoder.layer[i].parameters():
                prm.requires_grad = False
        self.bert_l1 = nn.Linear(768, 768)
        self.bert_l2 = nn.Linear(768, out_dim)
        resnet = torchvision.models.resnet50(weights=None)
        n = resnet.fc.in_features
        self.res_features = nn.Sequential(*list(resnet.children())[:-1])
        self.res_l1 = nn.Linear(n, n)
        self.res_l2 = nn.Linear(n, out_dim)

    def mean_pooling(self, out, mask):
        tokens = out[0]
        m = mask.unsqueeze(-1).expand(tokens.size()).float()
        return torch.sum(tokens * m, 1) / torch.clamp(m.sum(1), min=1e-9)

    def forward(self, xis, enc):
        h = self.res_features(xis).squeeze()
        zis = self.res_l2(F.relu(self.res_l1(h)))
        out = self.bert_model(**enc)
        ctx = torch.enable_grad() if a.text_grad else torch.no_grad()
        with ctx:
            x = self.mean_pooling(out, enc["attention_mask"])
            zls = self.bert_l2(F.relu(self.bert_l1(x)))
        return zis, zls


def nt_xent(zis, zls, temperature=0.1, alpha=0.75):
    zis, zls = F.normalize(zis, dim=1), F.normalize(zls, dim=1)
    logits = zis @ zls.t() / temperature
    labels = torch.arange(zis.shape[0])
    return alpha * F.cross_entropy(logits, labels) + (1 - alpha) * F.cross_entropy(logits.t(), labels)


model = ModelCLR().train()
opt = torch.optim.Adam(model.parameters(), 1e-4, weight_decay=1e-6)
images = lambda: torch.randn(a.batch, 3, a.size, a.size)
enc = {"input_ids": torch.randint(0, 28996, (a.batch, TOKENS)),
       "token_type_ids": torch.zeros(a.batch, TOKENS, dtype=torch.long),
       "attention_mask": torch.ones(a.batch, TOKENS, dtype=torch.long)}


def timed(f):
    f()
    f()
    times = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def forward():
    with torch.no_grad():
        model(images(), enc)


def fwd_bwd():
    model.zero_grad()
    nt_xent(*model(images(), enc)).backward()


def step():
    opt.zero_grad()
    nt_xent(*model(images(), enc)).backward()
    opt.step()


fwd, fb, st = timed(forward), timed(fwd_bwd), timed(step)
print(f"ConVIRT reference ModelCLR (ResNet-50 {a.size}^2, BERT-base {TOKENS} tokens, "
      f"{'text trained' if a.text_grad else 'text under no_grad, as the reference'}) batch {a.batch}, "
      f"{a.threads} threads, torch {torch.__version__}: forward {fwd:.3f} s, forward+backward {fb:.3f} s, "
      f"training step {st:.3f} s (median of {a.repeat})")
