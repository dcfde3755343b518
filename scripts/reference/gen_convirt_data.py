"""The ConVIRT reference implementation's data choices, for tests/it/convirt_data.rs.

Made with numpy 2.4 and torch 2.6.0 by
    pip install numpy torch
    python3 scripts/reference/gen_convirt_data.py tests/fixtures/convirt_data.json

From edreisMD/ConVIRT-pytorch, dataloader/dataset_wrapper.py and dataset.py, written out below:
`splits`: `get_train_validation_data_loaders` — numpy's global generator seeded with 0 (as the
module's `np.random.seed(0)` leaves it), `np.random.shuffle(list(range(n)))`, the first
`floor(valid_size * n)` indices for validation, the rest for training; `sentences`:
`ClrDataset.__getitem__`'s candidates for the text view — `text.replace("\\n", "")`,
`split(".")`, the first `''` removed — whose `random.choice` picks the phrase; `lr_schedules`:
train.py's learning rate in each epoch (`CosineAnnealingLR(T_max=len(train_loader))` stepped after
each epoch from the tenth on) for two loader lengths.
"""
import json
import sys

import numpy as np
import torch


def split(n, valid_size):
    np.random.seed(0)
    indices = list(range(n))
    np.random.shuffle(indices)
    s = int(np.floor(valid_size * n))
    return {"n": n, "valid_size": valid_size, "train": indices[s:], "valid": indices[:s]}


def sentences(text):
    text = text.replace("\n", "")
    ls_text = text.split(".")
    if '' in ls_text:
        ls_text.remove('')
    return ls_text


REPORTS = [
    "The heart size is normal. The lungs are clear.",
    "No pleural effusion.\nNo pneumothorax.",
    "Consolidation in the right lower lobe. 3.5 cm nodule... Follow-up advised",
    "..Leading dots. Trailing",
    "IMPRESSION: No acute process",
]


def lr_schedule(batches_per_epoch, epochs, lr=1e-4):
    """train.py's rate per epoch: CosineAnnealingLR(T_max=len(train_loader), eta_min=0), stepped
    after each epoch from the tenth on."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=batches_per_epoch, eta_min=0, last_epoch=-1)
    out = []
    for epoch in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if epoch >= 10:
            sched.step()
    return {"batches_per_epoch": batches_per_epoch, "lr": lr, "per_epoch": out}


def main(path):
    res = {"numpy": np.__version__,
           "splits": [split(n, v) for n, v in [(10, 0.1), (37, 0.1), (100, 0.25), (7, 0.0), (1000, 0.1)]],
           "sentences": [{"report": r, "sentences": sentences(r)} for r in REPORTS],
           "lr_schedules": [lr_schedule(4, 30), lr_schedule(7, 40)]}
    with open(path, "w") as f:
        json.dump(res, f, separators=(",", ":"))


if __name__ == "__main__":
    main(sys.argv[1])
