#!/usr/bin/env bash
# ConVIRT demo on ssl3d's synthetic image–report pairs: no download, CPU by default.
# Writes the paired corpus (radiographs rendered from chest phantoms, their CT, reports of their
# findings, a small BERT), pretrains ConVIRT on the radiographs (ResNet-18 + BERT, the reference's
# config keys) and on the CT volumes (MONAI's 3-D ViT + BERT, ssl3d's ct section), then fine-tunes
# a UNETR on the synthetic abdomen from the CT run's ViT, beside a random start, and tabulates both.
# About 5 minutes on 2 CPU cores with an incremental build. What the runs learn on this corpus in minutes is
# measured, not promised: docs/CONVIRT.md, "Running on the synthetic corpus".
# Usage: scripts/convirt_demo.sh [WORK_DIR]   (default: ./convirt-demo-run, git-ignored)
#   SSL3D_DEVICE=cuda|wgpu scripts/convirt_demo.sh   trains on that device (docs/GPU.md).
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-convirt-demo-run}"
mkdir -p "$work"
source scripts/release_build.sh ssl-data ssl-convirt ssl-finetune ssl-report

echo "== 1. synthetic image–report pairs: radiographs, CT volumes, reports, a small BERT pretrained on them"
rm -rf "$work/pairs"
"$bin/ssl-data" synth --reports --out "$work/pairs" --pairs 64 --seed 0
head -3 "$work/pairs/pairs.csv"
echo "   e.g. $(cat "$work/pairs/reports/chest-0001.txt")"

echo "== 2. ConVIRT on the radiographs (the reference's config.yaml keys; ResNet-18 + BERT)"
rm -rf "$work/convirt-radiographs"
"$bin/ssl-convirt" --config "$work/pairs/config.yaml" --logdir "$work/convirt-radiographs" \
  --epochs 4 --device "$device" 2>&1 | grep -v " step " || true
test -f "$work/convirt-radiographs/summary.json"

echo "== 3. ConVIRT on the CT volumes (ssl3d's ct section; MONAI's 3-D ViT + BERT)"
rm -rf "$work/convirt-ct"
"$bin/ssl-convirt" --config "$work/pairs/config-ct.yaml" --logdir "$work/convirt-ct" \
  --epochs 10 --device "$device" 2>&1 | grep -v " step " || true
test -f "$work/convirt-ct/summary.json"

echo "== 4. its ViT into UNETR: fine-tuning on the synthetic abdomen (6 labelled volumes), random vs ConVIRT-CT"
rm -rf "$work/abdomen"
"$bin/ssl-data" synth --out "$work/abdomen/data" --json-dir "$work/abdomen/json" --size tiny \
  --count 2 --labelled 12 --validation 4 --seed 0 > /dev/null
for init in random convirt_ct; do
  rm -rf "$work/finetune_$init"
  if [ "$init" = random ]; then flag=(--random-init); else flag=(--pretrained "$work/convirt-ct"); fi
  "$bin/ssl-finetune" "${flag[@]}" --config configs/finetune_demo.json --set max_iterations=151 \
    --json "$work/abdomen/json/btcv/dataset_0_init_6.json" --data-dir "$work/abdomen/data/btcv" \
    --logdir "$work/finetune_$init" --device "$device" 2>&1 | grep -v " step " || true
  test -f "$work/finetune_$init/report.json"
done
"$bin/ssl-report" table "$work/finetune_random" "$work/finetune_convirt_ct" --out "$work/table"

echo "== done: $work/convirt-radiographs and $work/convirt-ct hold each run's metrics.jsonl,"
echo "   TensorBoard events, best and final model (the reference's key names) and summary.json;"
echo "   $work/table/table.md compares the fine-tuning starts."
