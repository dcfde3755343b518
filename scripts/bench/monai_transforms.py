"""Times MONAI's tutorial transform chains per stage on one volume, for docs/BENCHMARKS.md.

    pip install "monai==1.5.0" torch nibabel
    python3 scripts/bench/monai_transforms.py IMAGE LABEL [THREADS]
Runs each chain 1 + 3 times (the first is a warm-up) and prints the median per stage, like
`ssl-data bench transforms`.
"""
import sys, time
import numpy as np, torch
from monai.transforms import Compose
sys.path.insert(0, "scripts/bench")
from monai_transforms_defs import pretrain_list, finetune_list

image, label = sys.argv[1], sys.argv[2]
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
pre, ft = pretrain_list(), finetune_list()
for name, ts, data in [("pretrain", pre, {"image": image}), ("finetune-train", ft, {"image": image, "label": label})]:
    times = []
    for r in range(4):
        c = Compose(ts); c.set_random_state(seed=r)
        d, row = dict(data), []
        for t in ts:
            t0 = time.perf_counter()
            d = [t(x) for x in d] if isinstance(d, list) else t(d)
            row.append(time.perf_counter() - t0)
        times.append(row)
    med = np.median(np.array(times[1:]), axis=0)
    print(f"\n{name} (MONAI, {torch.get_num_threads()} thread(s))")
    for t, m in zip(ts, med):
        print(f"| {type(t).__name__} | {m:.3f} |")
    print(f"| **total** | **{med.sum():.3f}** |")
