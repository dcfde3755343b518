#!/usr/bin/env bash
# ssl3d demo on built-in synthetic CT: no download, CPU by default.
# Generates phantoms with MONAI-format datalists, inspects one, draws its views and the SSL
# augmentations, pretrains a small ViTAutoEnc on the chest volumes, fine-tunes a UNETR on the
# 6-volume abdominal split from random and from pretrained weights, builds the tutorial's table, and
# segments a scan the fine-tuning never saw.
# About 4½ minutes on 2 CPU cores once built.
# Usage: scripts/demo.sh [WORK_DIR]   (default: ./demo-run, git-ignored)
#   SSL3D_DEVICE=cuda|wgpu scripts/demo.sh   trains on that device (built with its feature;
#   docs/GPU.md). A software Vulkan device (lavapipe) works too, much more slowly.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-demo-run}"
mkdir -p "$work"
source scripts/release_build.sh ssl-data ssl-pretrain ssl-finetune ssl-report ssl-segment

echo "== 1. synthetic CT: chest (pretraining) and labelled abdomen (fine-tuning)"
"$bin/ssl-data" synth --out "$work/data" --json-dir json_files/synthetic --size tiny \
  --count 16 --labelled 24 --validation 6 --seed 0

echo "== 2. what ssl3d reads from one volume"
"$bin/ssl-data" inspect "$work/data/btcv/imagesTr/img0001.nii.gz" --voxel 32,32,16
"$bin/ssl-data" check --json json_files/synthetic/btcv/dataset_0_init_6.json \
  --data-dir "$work/data/btcv" --labels

echo "== 3. views: three mid-slices with the organ labels"
"$bin/ssl-data" views "$work/data/btcv/imagesTr/img0001.nii.gz" \
  --label "$work/data/btcv/labelsTr/label0001.nii.gz" --out "$work/abdomen_views.png"
"$bin/ssl-data" views "$work/data/tcia/data/volume-covid19-synth-0001.nii.gz" \
  --out "$work/chest_views.png"

echo "== 4. the tutorial's SSL augmentations (2 crops x 3 views) on one chest volume, seeded like MONAI"
"$bin/ssl-data" chain --pipeline pretrain --image "$work/data/tcia/data/volume-covid19-synth-0001.nii.gz" \
  --seed 123 --config configs/pretrain_transforms.json

"$bin/ssl-data" views --pipeline pretrain --image "$work/data/tcia/data/volume-covid19-synth-0001.nii.gz" \
  --seed 123 --out "$work/ssl_views.png"

echo "== 5. self-supervised pretraining (small ViTAutoEnc on $device; the tutorial's losses and loop)"
rm -rf "$work/pretrain"
"$bin/ssl-pretrain" --config configs/pretrain_demo.json \
  --json json_files/synthetic/tcia/dataset_split.json --data-dir "$work/data/tcia" \
  --logdir "$work/pretrain" --device "$device"

echo "== 6. fine-tuning UNETR on the 6-volume split: random init, then the pretrained backbone"
for init in random pretrained; do
  rm -rf "$work/finetune_$init"
  if [ "$init" = random ]; then flag=(--random-init); else flag=(--pretrained "$work/pretrain"); fi
  "$bin/ssl-finetune" "${flag[@]}" --config configs/finetune_demo.json \
    --json json_files/synthetic/btcv/dataset_0_init_6.json --data-dir "$work/data/btcv" \
    --logdir "$work/finetune_$init" --device "$device" --save-predictions 2>&1 | grep -v " step " || true
  test -f "$work/finetune_$init/report.json"
done

echo "== 7. the tutorial's table: random init vs pretrained"
"$bin/ssl-report" table "$work/finetune_random" "$work/finetune_pretrained" --out "$work/table"

echo "== 8. a scan the 6-volume runs never saw (img0007), segmented with the pretrained run's best model"
rm -rf "$work/segmented"
"$bin/ssl-segment" --model "$work/finetune_pretrained" --input "$work/data/btcv/imagesTr/img0007.nii.gz" \
  --out "$work/segmented" --device "$device"

echo "== done: open $work/abdomen_views.png, $work/chest_views.png, $work/ssl_views.png,"
echo "   $work/pretrain/loss_plots.png, $work/finetune_*/finetune_plots.png and report.md,"
echo "   $work/table/table.md and table.png, $work/segmented/img0007_qc.png and volumes.csv; label maps"
echo "   (in each CT's own grid, for 3D Slicer) are in $work/finetune_*/predictions/ and $work/segmented/"
