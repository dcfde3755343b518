#!/usr/bin/env bash
# Does self-supervised pretraining help, and by how much? Pretrains each network once (UNETR's
# ViTAutoEnc; a CNN's restoration), then fine-tunes it from random init and from its pretraining
# on each split (labelled volumes) with each seed,
# and reports mean ± sd per cell, the paired difference pretrained − random with its 95 %
# interval (overall and per organ), learning curves and Dice against labelled volumes
# (`ssl-report study`; docs/STUDY.md).
#
# Usage: scripts/ssl_study.sh [SETTINGS] [WORK_DIR]
#   SETTINGS  a settings file (default configs/study_synthetic.env: built-in synthetic CT)
#   WORK_DIR  the study folder (default ./study-run, git-ignored)
# Stopped (Ctrl-C, a closed session), it picks up where it was when run again: finished runs
# are kept, unfinished ones resume from their last checkpoint.
#   SSL3D_BIN=DIR      use the ssl3d binaries in DIR instead of building them (release)
#   SSL3D_DEVICE=...   cpu (default), cuda[:N] or wgpu[:N] (a build with that feature)
set -euo pipefail
# Arguments are relative to where the script is called from; the settings' own relative paths
# are from the repository root.
settings="$(realpath -m "${1:-$(dirname "$0")/../configs/study_synthetic.env}")"
WORK="$(realpath -m "${2:-$(dirname "$0")/../study-run}")"
cd "$(dirname "$0")/.."
[ -f "$settings" ] || { echo "ssl_study: settings file $settings not found" >&2; exit 2; }
# shellcheck source=/dev/null
source "$settings"
device="${SSL3D_DEVICE:-cpu}"
expand() { eval "echo \"$1\""; }
for n in PRETRAIN_JSON PRETRAIN_DATA FINETUNE_DATA SPLITS RANDOM_RUNS_FROM; do
  printf -v "$n" '%s' "$(expand "${!n:-}")"
done
for n in NETWORKS SEEDS SPLITS PRETRAIN_CONFIG PRETRAIN_JSON FINETUNE_CONFIG; do
  [ -n "${!n:-}" ] || { echo "ssl_study: $settings sets no $n" >&2; exit 2; }
done
mkdir -p "$WORK"

if [ -n "${SSL3D_BIN:-}" ]; then
  bin="$SSL3D_BIN"
else
  features=()
  case "$device" in
    cuda*) features=(--features cuda) ;;
    wgpu*) features=(--features wgpu) ;;
  esac
  echo "== building ssl3d (release)"
  cargo build --release --quiet "${features[@]}" --bin ssl-data --bin ssl-pretrain \
    --bin ssl-finetune --bin ssl-report
  bin="${CARGO_TARGET_DIR:-target}/release"
fi

# A run folder is finished (report), resumable (a checkpoint), or started without a
# checkpoint (nothing to keep: started again).
run_state() {
  if [ -f "$1/$2" ]; then echo done
  elif [ -e "$1/checkpoints/latest" ]; then echo resume
  else rm -rf "$1"; echo fresh
  fi
}

if [ "${SYNTH:-0}" = 1 ] && [ ! -f "$WORK/data/.complete" ]; then
  echo "== synthetic CT under $WORK/data"
  "$bin/ssl-data" synth --out "$WORK/data" --json-dir "$WORK/json" --size "$SYNTH_SIZE" \
    --count "$SYNTH_CHEST" --labelled "$SYNTH_LABELLED" --validation "$SYNTH_VALIDATION" \
    --seed "$SYNTH_SEED"
  touch "$WORK/data/.complete"
fi

# One pretraining per network: the tutorial's ViTAutoEnc for unetr (in $WORK/pretrain), the
# CNN's own restoration pretraining for dynunet and segresnet ($WORK/pretrain_<network>).
pretrain_dir() {
  if [ "$1" = unetr ]; then echo "$WORK/pretrain"; else echo "$WORK/pretrain_$1"; fi
}
pretrain() {
  local network="$1" dir
  dir="$(pretrain_dir "$network")"
  echo "== pretraining $network ($PRETRAIN_CONFIG)"
  state=$(run_state "$dir" summary.json)
  [ "$state" = done ] && return 0
  flag=(--network "$network"); [ "$state" = resume ] && flag+=(--resume)
  for s in ${PRETRAIN_SET:-}; do flag+=(--set "$s"); done
  "$bin/ssl-pretrain" --config "$PRETRAIN_CONFIG" --json "$PRETRAIN_JSON" \
    --data-dir "$PRETRAIN_DATA" --logdir "$dir" --device "$device" "${flag[@]}" 2>&1 \
    | grep -v " step " || true
  test -f "$dir/summary.json" || { echo "ssl_study: the $network pretraining did not finish" >&2; exit 1; }
}

runs=()
for network in $NETWORKS; do
  inits="random pretrained"
  pretrain "$network"
  for split in $SPLITS; do
    volumes="${split%%:*}"; datalist="${split#*:}"
    for seed in $SEEDS; do
      for init in $inits; do
        name="${network}_${volumes}vols_${init}_seed${seed}"
        dir="$WORK/finetune/$name"
        if [ "$init" = random ] && [ -n "${RANDOM_RUNS_FROM:-}" ]; then
          # Another pretraining arm over the same random-init baselines: reuse them.
          dir="$RANDOM_RUNS_FROM/finetune/$name"
          test -f "$dir/report.json" || {
            echo "ssl_study: RANDOM_RUNS_FROM has no finished $name ($dir)" >&2; exit 1; }
        fi
        runs+=("$dir")
        state=$(run_state "$dir" report.json)
        [ "$state" = done ] && continue
        echo "== $network, $volumes labelled volumes, $init init, seed $seed ($state)"
        flag=(--pretrained "$(pretrain_dir "$network")")
        [ "$init" = random ] && flag=(--random-init)
        [ "$state" = resume ] && flag+=(--resume)
        sets=(--set "network=$network")
        for s in ${FINETUNE_SET:-}; do sets+=(--set "$s"); done
        mkdir -p "$WORK/finetune"
        "$bin/ssl-finetune" "${flag[@]}" --config "$FINETUNE_CONFIG" "${sets[@]}" \
          --seed "$seed" --json "$datalist" --data-dir "$FINETUNE_DATA" --logdir "$dir" \
          --device "$device" 2>&1 | grep -v " step " || true
        test -f "$dir/report.json" || { echo "ssl_study: $dir did not finish" >&2; exit 1; }
      done
    done
  done
done

echo "== the study's report"
"$bin/ssl-report" study "${runs[@]}" --out "$WORK/report"
echo "== done: $WORK/report/study.md, learning_curves.png, dice_vs_volumes.png"
