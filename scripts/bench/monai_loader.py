"""MONAI's tutorial loaders on the same files as `ssl-data bench pipeline`, for docs/BENCHMARKS.md.

    pip install "monai==1.5.0" torch nibabel
    python3 scripts/bench/monai_loader.py PRETRAIN_JSON PRETRAIN_DIR FINETUNE_JSON FINETUNE_DIR
Pretraining: Dataset (no cache) + DataLoader(batch_size=4, shuffle=True, num_workers=2), one epoch.
Fine-tuning: CacheDataset (fill timed) + DataLoader(batch_size=1, shuffle=True, num_workers=0), one warm epoch.
"""
import sys, time, torch
from monai.data import Dataset, CacheDataset, DataLoader, load_decathlon_datalist
sys.path.insert(0, "scripts/bench")
from monai_transforms_defs import pretrain_transforms, finetune_transforms

pj, pd, fj, fd = sys.argv[1:5]
torch.set_num_threads(1)
train = load_decathlon_datalist(pj, is_segmentation=False, data_list_key="training", base_dir=pd)
loader = DataLoader(Dataset(train, pretrain_transforms()), batch_size=4, shuffle=True, num_workers=2)
t0 = time.perf_counter(); crops = sum(b["image"].shape[0] for b in loader); dt = time.perf_counter() - t0
print(f"pretrain Dataset, 2 workers: {crops} crops in {dt:.2f} s = {crops / dt:.2f} crops/s")
ft = load_decathlon_datalist(fj, is_segmentation=True, data_list_key="training", base_dir=fd)
t0 = time.perf_counter(); ds = CacheDataset(ft, finetune_transforms(), cache_rate=1.0, num_workers=2); fill = time.perf_counter() - t0
print(f"finetune CacheDataset fill: {len(ft)} volumes in {fill:.2f} s = {len(ft) / fill:.2f} volumes/s")
loader = DataLoader(ds, batch_size=1, shuffle=True, num_workers=0)
t0 = time.perf_counter(); crops = sum(b["image"].shape[0] for b in loader); dt = time.perf_counter() - t0
print(f"finetune warm, 0 workers: {crops} crops in {dt:.2f} s = {crops / dt:.2f} crops/s")
