# Sourced by the demo scripts: the device from SSL3D_DEVICE (cpu, cuda[:N] or wgpu[:N]), the
# release build of the binaries named in "$@" with that device's cargo feature, and `bin`, where
# they are. Run from the repository root.
device="${SSL3D_DEVICE:-cpu}"
features=()
case "$device" in
  cpu) ;;
  cuda*) features=(--features cuda) ;;
  wgpu*) features=(--features wgpu) ;;
  *) echo "$(basename "$0"): SSL3D_DEVICE=$device: expected cpu, cuda[:N] or wgpu[:N]" >&2; exit 2 ;;
esac
echo "== building ssl3d (release${features[*]:+, ${features[*]}})"
cargo build --release --quiet "${features[@]}" "${@/#/--bin=}"
bin="${CARGO_TARGET_DIR:-target}/release"
