#!/usr/bin/env bash
# The device check (docs/GPU.md): one call on a machine with an NVIDIA GPU, CUDA, Python and
# PyTorch but no Rust. Runs, in order of importance, until its time budget is spent:
#   (a) parity: tiny ViTAutoEnc and UNETR on the GPU against the CPU (outputs, losses, every
#       gradient norm): `ssl-bench --model parity`;
#   (b) speed: `ssl-bench` ViTAutoEnc at batch 8 and UNETR at batch 4, 96³, forward / forward +
#       backward / training step, f32 (and bf16 where the build offers --precision), with the peak
#       GPU memory seen by nvidia-smi;
#   (c) PyTorch + MONAI on the same GPU, same shapes (scripts/bench/monai_networks.py), if torch
#       and monai import (wheels in .whl/ are installed first, see docs/GPU.md);
#   (c') fine-tuning's sliding-window validation over one preprocessed CT, ssl3d and MONAI;
#   (d) a short ssl-pretrain and ssl-finetune on full-size synthetic CT with the tutorial configs,
#       each stopped half-way and resumed (`--resume`): step time and the share spent waiting for
#       data (`ssl-report steps`); each run's last checkpoint, written on the device, loaded on
#       the CPU and on the device and compared (`ssl-bench --model checkpoint-parity`).
# Writes $OUT/gpu_check.json (every result, one entry per step), $OUT/gpu_check.txt (readable) and
# each run's metrics.jsonl ($OUT/pretrain_metrics.jsonl, $OUT/finetune_metrics.jsonl).
#
# Usage: scripts/gpu_check.sh [--dry-run] [--bin DIR] [--out DIR] [--budget-s S] [--cap-scale K]
#   --bin DIR    the binaries: ssl-bench ssl-data ssl-pretrain ssl-finetune ssl-report, built with
#                `--features cuda`, or DIR/ssl3d-bins.tar.gz holding them (scripts/pack_device_bins.sh);
#                default device-bin
#   --out DIR    where the results go; default $OUT, else gpu-check-out
#   --budget-s S seconds for the whole check (default 450: the 8 minutes of one device call, less
#                a margin); a step that would start past it is recorded as skipped
#   --cap-scale K multiply every step's own time limit by K (default 1; a build with
#                cuda-autotune tunes its kernels on first use, which outlasted the default limits)
#   --dry-run    the same sequence on the CPU at tiny sizes (tests run it; no GPU, no Python needed)
set -uo pipefail
cd "$(dirname "$0")/.."

dry_run=0
bin=device-bin
out="${OUT:-gpu-check-out}"
budget=450
cap_scale=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --bin) bin="$2"; shift ;;
    --out) out="$2"; shift ;;
    --budget-s) budget="$2"; shift ;;
    --cap-scale) cap_scale="$2"; shift ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
features="$(cat "$bin/FEATURES" 2>/dev/null || echo unknown)"
if [ -f "$bin/ssl3d-bins.tar.gz" ]; then
  tar xzf "$bin/ssl3d-bins.tar.gz" -C "$work" || { echo "gpu_check: cannot unpack $bin/ssl3d-bins.tar.gz" >&2; exit 2; }
  bin="$work"
fi
for b in ssl-bench ssl-data ssl-pretrain ssl-finetune ssl-report; do
  if [ ! -x "$bin/$b" ]; then
    echo "gpu_check: $bin/$b is missing: build with 'cargo build --release --features cuda' and run scripts/pack_device_bins.sh (docs/GPU.md)" >&2
    exit 2
  fi
done
mkdir -p "$out"

if [ "$dry_run" = 1 ]; then
  device=cpu; size=16; repeat=1; vit_batch=1; unetr_batch=1; synth_size=tiny
  pre_cfg=configs/pretrain_demo.json; fine_cfg=configs/finetune_demo.json
  pre_set=(--set val_interval=100); pre_epochs=(1 2)
  fine_set=(--set eval_num=1000); fine_iters=(2 4)
  synth=(--count 4 --labelled 2 --validation 1)
  volume=(20 40 24)
else
  device=cuda; size=96; repeat=3; vit_batch=8; unetr_batch=4; synth_size=full
  pre_cfg=configs/pretrain_tcia.json; fine_cfg=configs/finetune_btcv.json
  pre_set=(--set val_interval=100); pre_epochs=(2 4)
  fine_set=(--set eval_num=1000); fine_iters=(12 24)
  synth=(--count 8 --labelled 2 --validation 1)
  volume=(260 260 180)
  # The CUDA backend compiles its kernels at run time with NVRTC: find it where the loader would
  # not (the CUDA toolkit's own folder, or the NVIDIA wheels beside PyTorch).
  if ! ldconfig -p 2>/dev/null | grep -q 'libnvrtc\.so'; then
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
      $(python3 -c 'import glob, os, site; print(" ".join(sorted({os.path.dirname(p) for s in site.getsitepackages() for p in glob.glob(s + "/nvidia/**/libnvrtc.so*", recursive=True)})))' 2>/dev/null); do
      ls "$d"/libnvrtc.so* >/dev/null 2>&1 && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    done
  fi
fi

start=$(date +%s)
entries=()
summary="$out/gpu_check.txt"
: >"$summary"
say() { echo "$*" | tee -a "$summary"; }

# JSON string of the text on stdin (quotes, backslashes and control characters escaped).
json_string() {
  printf '"%s"' "$(tr -d '\000-\010\013-\037' | sed 's/\\/\\\\/g; s/"/\\"/g' | awk 'BEGIN{ORS="\\n"} {print}')"
}

# step NAME CAP_S CMD...: runs CMD (its stdout is JSON) within min(CAP_S, budget left), polling
# nvidia-smi for peak GPU memory, and records {name, rc, seconds, peak_gpu_mib, result|error}.
# log_step does the same for a command whose output is a log: its last lines become `log_tail`.
step() { run_step json "$@"; }
log_step() { run_step log "$@"; }
run_step() {
  local kind="$1" name="$2" cap="$3"; shift 3
  cap=$((cap * cap_scale))
  local left=$((budget - ($(date +%s) - start)))
  if [ "$left" -lt 20 ]; then
    entries+=("{\"name\":\"$name\",\"skipped\":\"time budget spent\"}")
    say "$name: skipped (time budget spent)"
    return
  fi
  [ "$cap" -gt "$left" ] && cap=$left
  local mem="$work/$name.mem" poller=""
  if command -v nvidia-smi >/dev/null && [ "$dry_run" = 0 ]; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -lms 200 >"$mem" 2>/dev/null &
    poller=$!
  fi
  local t0 rc
  t0=$(date +%s.%N)
  timeout "$cap" "$@" >"$work/$name.out" 2>"$work/$name.err"
  rc=$?
  local secs peak=null
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
  if [ -n "$poller" ]; then
    kill "$poller" 2>/dev/null; wait "$poller" 2>/dev/null
    peak=$(awk 'BEGIN{m=0} $1+0>m{m=$1+0} END{print m}' "$mem")
  fi
  local body
  if [ "$rc" = 0 ] && [ "$kind" = log ]; then
    body="\"log_tail\":$(cat "$work/$name.out" "$work/$name.err" | tail -n 4 | json_string)"
    say "$name: ok in ${secs} s$([ "$peak" != null ] && echo ", peak GPU memory ${peak} MiB")"
  elif [ "$rc" = 0 ] && [ -s "$work/$name.out" ]; then
    body="\"result\":$(cat "$work/$name.out")"
    say "$name: ok in ${secs} s$([ "$peak" != null ] && echo ", peak GPU memory ${peak} MiB"): $(tr -d '\n' <"$work/$name.out" | cut -c1-400)"
  else
    [ "$rc" = 124 ] && echo "stopped after ${cap} s" >>"$work/$name.err"
    body="\"error\":$(tail -n 5 "$work/$name.err" | json_string)"
    say "$name: FAILED (exit $rc) in ${secs} s: $(tail -n 3 "$work/$name.err" | tr '\n' ' ')"
  fi
  entries+=("{\"name\":\"$name\",\"rc\":$rc,\"seconds\":$secs,\"peak_gpu_mib\":$peak,$body}")
}

say "ssl3d device check, $(date -u +%Y-%m-%dT%H:%M:%SZ), device $device$([ "$dry_run" = 1 ] && echo ' (dry run on the CPU, tiny sizes)')"
if command -v nvidia-smi >/dev/null && [ "$dry_run" = 0 ]; then
  say "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)"
  say "LD_LIBRARY_PATH: ${LD_LIBRARY_PATH:-}; binaries built with features: $features"
fi

# (a) parity
step parity 120 "$bin/ssl-bench" --model parity --device "$device"

# (b) speed, f32 first; bf16 where the build has --precision
precisions=(f32)
"$bin/ssl-bench" --help | grep -q -- '--precision' && precisions+=(bf16)
bench_one() {
  local model="$1" batch="$2" precision="$3" extra=()
  [ "$precision" != f32 ] && extra=(--precision "$precision")
  step "bench_${model}_b${batch}_${precision}" 90 "$bin/ssl-bench" --model "$model" --batch "$batch" \
    --size "$size" --repeat "$repeat" --device "$device" --json "${extra[@]}"
}
bench_one vitautoenc "$vit_batch" f32
bench_one unetr "$unetr_batch" f32

# (c) PyTorch + MONAI on the same device
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$work/site" .whl/*.whl \
    && export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}"
fi
if python3 -c 'import torch, monai' 2>/dev/null; then
  monai_device=cpu
  [ "$dry_run" = 0 ] && monai_device=cuda
  for spec in "vitautoenc $vit_batch" "unetr $unetr_batch"; do
    set -- $spec
    step "monai_${1}_b${2}_f32" 90 python3 scripts/bench/monai_networks.py "$1" --batch "$2" --size "$size" \
      --repeat "$repeat" --device "$monai_device" --json
  done
  have_monai=1
else
  entries+=("{\"name\":\"monai\",\"skipped\":\"python3 cannot import torch and monai\"}")
  say "monai: skipped (python3 cannot import torch and monai)"
fi

# (c') sliding-window validation of one preprocessed CT
step sliding_window_f32 90 "$bin/ssl-bench" --model sliding-window --size "$size" \
  --volume "$(IFS=,; echo "${volume[*]}")" --repeat "$repeat" --device "$device" --json
if [ "${have_monai:-0}" = 1 ]; then
  step monai_sliding_window_f32 90 python3 scripts/bench/monai_networks.py sliding-window --size "$size" \
    --volume "${volume[@]}" --repeat "$repeat" --device "$monai_device" --json
fi

# checkpoint_parity NAME RUN: the run's latest checkpoint on the CPU and on the device.
checkpoint_parity() {
  local latest="$2/checkpoints/latest"
  [ -f "$latest" ] && step "$1" 60 "$bin/ssl-bench" --model checkpoint-parity \
    --checkpoint "$2/checkpoints/$(cat "$latest")/model.mpk" --device "$device"
}

# (d) short training runs on synthetic CT, each stopped half-way and resumed
log_step synth 90 "$bin/ssl-data" synth --out "$work/data" --json-dir "$work/json" --size "$synth_size" "${synth[@]}" --seed 1
if [ -f "$work/json/tcia/dataset_split.json" ]; then
  pretrain=("$bin/ssl-pretrain" --config "$pre_cfg" "${pre_set[@]}" --json "$work/json/tcia/dataset_split.json"
    --data-dir "$work/data/tcia" --logdir "$work/pretrain" --device "$device")
  log_step pretrain_run 150 "${pretrain[@]}" --set "max_epochs=${pre_epochs[0]}"
  log_step pretrain_resume 150 "${pretrain[@]}" --set "max_epochs=${pre_epochs[1]}" --resume
  [ -f "$work/pretrain/metrics.jsonl" ] && step pretrain_steps 20 "$bin/ssl-report" steps "$work/pretrain"
  checkpoint_parity pretrain_checkpoint_parity "$work/pretrain"
  finetune=("$bin/ssl-finetune" --random-init --config "$fine_cfg" "${fine_set[@]}" --json "$work/json/btcv/dataset_0.json"
    --data-dir "$work/data/btcv" --logdir "$work/finetune" --device "$device")
  log_step finetune_run 150 "${finetune[@]}" --set "max_iterations=${fine_iters[0]}" --set "checkpoint_every=${fine_iters[0]}"
  log_step finetune_resume 150 "${finetune[@]}" --set "max_iterations=${fine_iters[1]}" --set "checkpoint_every=${fine_iters[0]}" --resume
  [ -f "$work/finetune/metrics.jsonl" ] && step finetune_steps 20 "$bin/ssl-report" steps "$work/finetune"
  checkpoint_parity finetune_checkpoint_parity "$work/finetune"
  for run in pretrain finetune; do
    [ -f "$work/$run/metrics.jsonl" ] && cp "$work/$run/metrics.jsonl" "$out/${run}_metrics.jsonl"
  done
fi

# bf16 last: it is the least certain
for p in "${precisions[@]:1}"; do
  bench_one vitautoenc "$vit_batch" "$p"
  bench_one unetr "$unetr_batch" "$p"
  step "sliding_window_$p" 90 "$bin/ssl-bench" --model sliding-window --size "$size" --precision "$p" \
    --volume "$(IFS=,; echo "${volume[*]}")" --repeat "$repeat" --device "$device" --json
done

elapsed=$(($(date +%s) - start))
{
  printf '{"device":"%s","dry_run":%s,"elapsed_s":%s,"steps":[' "$device" "$([ "$dry_run" = 1 ] && echo true || echo false)" "$elapsed"
  (IFS=,; printf '%s' "${entries[*]}")
  printf ']}\n'
} >"$out/gpu_check.json"
say "done in ${elapsed} s: $out/gpu_check.json, $out/gpu_check.txt"
failed=$(grep -c FAILED "$summary")
[ "$failed" = 0 ] || { echo "gpu_check: $failed step(s) failed" >&2; exit 1; }
