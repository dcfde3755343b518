#!/usr/bin/env bash
# Builds the binaries the device check needs with CUDA, strips them and packs them into
# device-bin/ssl3d-bins.tar.gz (git-ignored), small enough to travel with a device call (64 MiB
# for the whole working tree). Then, on the device: scripts/gpu_check.sh (docs/GPU.md).
#
# Usage: scripts/pack_device_bins.sh [FEATURES]   (default: cuda; e.g. cuda-autotune,cuda-fusion)
# The driver of the H200 machines lent so far is CUDA 13.0: build with CUDARC_CUDA_VERSION=13000.
set -euo pipefail
cd "$(dirname "$0")/.."
features="${1:-cuda}"
bins=(ssl-bench ssl-data ssl-pretrain ssl-finetune ssl-report)
cargo build --release --features "$features" $(printf -- '--bin %s ' "${bins[@]}")
target="${CARGO_TARGET_DIR:-target}/release"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
for b in "${bins[@]}"; do
  cp "$target/$b" "$stage/"
  strip "$stage/$b"
done
mkdir -p device-bin
tar czf device-bin/ssl3d-bins.tar.gz -C "$stage" "${bins[@]}"
size=$(stat -c %s device-bin/ssl3d-bins.tar.gz)
echo "$features" >device-bin/FEATURES
echo "device-bin/ssl3d-bins.tar.gz ($features): $((size / 1048576)) MiB (a device call carries at most 64 MiB in all)"
[ "$size" -lt $((56 * 1048576)) ] || { echo "too large to travel with the repository" >&2; exit 1; }
