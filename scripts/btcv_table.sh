#!/usr/bin/env bash
# The tutorial's results table on real BTCV: six fine-tunings (6, 12 and 24 training volumes, each
# from random init and from a pretrained backbone) with the tutorial's settings, then the table.
# Usage: scripts/btcv_table.sh BTCV_DIR PRETRAINED [OUT_DIR] [extra ssl-finetune options...]
#   BTCV_DIR    folder with imagesTr/ and labelsTr/ (the tutorial's data_dir)
#   PRETRAINED  ssl-pretrain's run folder or best_model.safetensors, or MONAI's best_model.pt
#   OUT_DIR     runs and the table go here (default runs/btcv)
# Each run is 30000 steps (the tutorial): on one GPU add --device cuda. A run that was stopped
# continues where it was (the script passes --resume when a run folder holds checkpoints).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  sed -n '2,10p' "$0"; exit 2
fi
data="$1"; pretrained="$2"; out="${3:-runs/btcv}"; shift $(( $# >= 3 ? 3 : 2 ))
cargo build --release --quiet --features cuda --bin ssl-finetune --bin ssl-report
bin="${CARGO_TARGET_DIR:-target}/release"
runs=()
for split in 6 12 24; do
  case $split in
    6) list=json_files/btcv/dataset_0_init_6.json ;;
    12) list=json_files/btcv/dataset_0_init_12.json ;;
    24) list=json_files/btcv/dataset_0.json ;;
  esac
  for init in random pretrained; do
    logdir="$out/${split}_$init"
    if [ "$init" = random ]; then flag=(--random-init); else flag=(--pretrained "$pretrained"); fi
    resume=()
    if [ -f "$logdir/report.json" ]; then
      echo "== $logdir is finished"; runs+=("$logdir"); continue
    elif [ -d "$logdir/checkpoints" ]; then
      resume=(--resume)
    fi
    echo "== fine-tuning on $split volumes, $init init -> $logdir"
    "$bin/ssl-finetune" "${flag[@]}" --config configs/finetune_btcv.json --json "$list" \
      --data-dir "$data" --logdir "$logdir" "${resume[@]}" "$@"
    runs+=("$logdir")
  done
done
"$bin/ssl-report" table "${runs[@]}" --out "$out/table"
