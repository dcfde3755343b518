"""MONAI's WarmupCosineSchedule as a training loop sees it, for tests/it/lr_schedule.rs.

Made with MONAI 1.5.0 and torch 2.6.0 (CPU build) by
    pip install "monai==1.5.0" torch
    python3 scripts/reference/gen_monai_lr_schedule.py tests/fixtures/monai_warmup_cosine.json

Per case: the schedule's arguments (t_total = the run's max_iterations), the base lr, and the
learning rate of each of the run's updates (read from the optimiser before each
`optimizer.step()`, with `scheduler.step()` after it, as a loop does).
"""
import json, sys

import monai
import torch
from monai.optimizers import WarmupCosineSchedule

CASES = [
    dict(lr=3e-3, warmup_steps=30, t_total=300, end_lr=0.0, warmup_multiplier=0.0),
    dict(lr=1e-4, warmup_steps=0, t_total=50, end_lr=0.0, warmup_multiplier=0.0),
    dict(lr=1e-3, warmup_steps=10, t_total=40, end_lr=2e-4, warmup_multiplier=0.1),
    dict(lr=2e-3, warmup_steps=60, t_total=40, end_lr=0.0, warmup_multiplier=0.5),
]

out = {"monai": monai.__version__, "torch": torch.__version__, "cases": []}
for c in CASES:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=c["lr"])
    sched = WarmupCosineSchedule(opt, warmup_steps=c["warmup_steps"], t_total=c["t_total"],
                                 end_lr=c["end_lr"], warmup_multiplier=c["warmup_multiplier"])
    lrs = []
    for _ in range(c["t_total"]):
        lrs.append(opt.param_groups[0]["lr"])
        p.grad = torch.ones(1)
        opt.step()
        sched.step()
    out["cases"].append({**c, "lrs": lrs})
with open(sys.argv[1], "w") as f:
    json.dump(out, f, indent=1)
