"""Whole tutorial transform chains run by real MONAI on real CT files, for ssl3d's `ssl-data chain` contract.

Made with MONAI 1.5.0 and 1.6.1, torch 2.6.0 (CPU build used on the CPU), numpy 2.4.6, nibabel 5.4.2
(exact versions are in the JSON), by
    pip install "monai==1.5.0" torch nibabel numpy
    pip install --no-deps --target /tmp/monai16 "monai==1.6.1"     # newest 1.6.x; only monai differs
    python3 scripts/reference/gen_monai_chains.py ../shared/reference tests/fixtures/monai_chains.json \
        --monai16 /tmp/monai16
(the path arguments are the reference folder, i.e. SSL3D_REFERENCE_DIR, and the output file). The main process only
orchestrates: every run is computed in a worker subprocess (`--worker`) with torch.set_num_threads(1), once with
the machine's default torch CPU kernels and once more with ATEN_CPU_CAPABILITY=default (no SIMD). Runs whose
samples differ between the two are marked "cpu_dependent": true and carry both results (see below); the others are
bit-for-bit reproducible with any kernel choice and are the ones a port can match. MONAI 1.6 runs are computed by
workers with PYTHONPATH=<--monai16>, so that only the monai package differs.

Each run builds the tutorial's Compose in one piece (docs/MONAI_COMPAT.md: "Pretraining transforms" for
"pretrain"; "Fine-tuning transforms" steps 1-9 for "finetune-train" and steps 1-5 for "finetune-val"), seeds it
with `Compose.set_random_state(seed=S)` (not set_determinism) and calls it once on
{"image": path[, "label": path]}. LoadImaged keeps its defaults (float32, image_only=True, NibabelReader
chosen by suffix) except for the .hdr/.img pair, which MONAI's suffix check refuses ("cannot find a suitable
reader"): there LoadImaged(reader="NibabelReader") is used, i.e. the same reader called directly.

Record per run:
  pipeline, image, label (or null), seed, monai (version that computed it), config (the ssl3d pipeline-config fields
  that differ from the tutorial for that run; "num_classes": 118 because TotalSegmentator labels go up to 117),
  samples: list over output samples (finetune-val: a list of one) of {key: {shape [C,X,Y,Z], sum (float64),
  wsum}} for every array key (image / gt_image / image_2, or image / label; meta keys such as
  foreground_start_coord are skipped),
  after_spacing: {"image": {shape, affine}, "label": ...}, after_crop_foreground: {"image": {shape, sum, wsum,
  affine}, "label": ...}: the deterministic prefix (its output is exactly what the full chain sees),
  fired: per output sample, which random branches fired (pretrain: OneOf choice "inpaint"/"outpaint" and whether
  RandCoarseShuffled applied, per view; finetune-train: flip0/flip1/flip2, rot90 k or null, shift offset or
  null), recorded by logging subclasses in a separate pass whose outputs are asserted equal to the plain run,
  cpu_dependent: false, or true with "samples_by_cpu" / "after_crop_foreground_by_cpu" {capability: ...}; then
  "samples" is the machine-default (AVX512 here) result and is not a valid target for a bit-exact port,
  cpu_dependent_keys (when cpu_dependent): the sample keys that differ between the CPU kernels,
  label_half_even_numpy (fine-tuning runs): NOT MONAI: the label after CropForegroundd with nearest resampling on
  exact coordinates and round-half-to-even (docs/MONAI_COMPAT.md, "Spacing"), computed with numpy; {shape, sum, wsum},
  notes: free text.
wsum(a) = sum_j ((j mod 1009) + 1) * a_j in float64 over the C-order flattening.

Why some runs are cpu_dependent: the tutorial's fine-tuning Spacing (1.5, 1.5, 2.0) on this 3 mm CT upsamples x and
y by exactly 2, so nearest-neighbour label resampling samples exact half-voxel positions (i/2). torch's
grid_sample computes them through a normalised grid whose last-bit rounding differs between its SIMD and scalar
kernels, so nearbyint() breaks the ties differently (neither round-half-even nor any other fixed rule reproduces
either result), and the label feeds RandCropByPosNegLabeld's crop centres. The same runs are also given with
config "pixdim": [1.4, 1.4, 2.2], where no sample point is a tie (1.4/3, 2.2/3): those are bit-exact.
"""
import argparse, hashlib, json, os, subprocess, sys, tempfile, warnings

import numpy as np

REF_FILES = {
    "ct": "nifti/totalsegmentator/example_ct_sm.nii.gz",
    "be": "nifti/derived/ct_sm_be_u16_slope0.5_inter-1024.nii.gz",
    "pair": "nifti/derived/ct_sm_pair_inter-1024.hdr",
    "nan": "nifti/derived/ct_sm_nan_slope_patched.nii.gz",
    "seg": "nifti/totalsegmentator/example_seg.nii.gz",
}
TUTORIAL_FT_PIXDIM = (1.5, 1.5, 2.0)
TIE_FREE_FT_PIXDIM = (1.4, 1.4, 2.2)
FT_TRAIN_SIZE = (32, 32, 16)   # the volume is only ~45 slices after spacing; 96^3 would raise in MONAI
NUM_CLASSES = 118


def wsum(a):
    a = np.asarray(a, dtype=np.float64).ravel(); j = np.arange(a.size) % 1009 + 1
    return float((a * j).sum())


def run_specs(monai16):
    """The list of runs, in fixture order. 'mver' is the MONAI series that must compute the run."""
    specs = []
    for img in ["ct", "be", "pair", "nan"]:
        for seed in [0, 1, 123]:
            specs.append({"pipeline": "pretrain", "image": REF_FILES[img], "label": None, "seed": seed,
                          "config": {}, "mver": "1.5"})
    if monai16:
        for seed in [0, 1, 123]:
            specs.append({"pipeline": "pretrain", "image": REF_FILES["ct"], "label": None, "seed": seed,
                          "config": {"oneof_per_sample": False}, "mver": "1.6"})
    train_seeds = [0, 1, 7, 123, 2024, 3, 10]
    for pix in [TUTORIAL_FT_PIXDIM, TIE_FREE_FT_PIXDIM]:
        extra = {} if pix == TUTORIAL_FT_PIXDIM else {"pixdim": list(pix)}
        specs.append({"pipeline": "finetune-val", "image": REF_FILES["ct"], "label": REF_FILES["seg"], "seed": 0,
                      "config": {**extra, "num_classes": NUM_CLASSES}, "mver": "1.5"})
        for seed in train_seeds:
            specs.append({"pipeline": "finetune-train", "image": REF_FILES["ct"], "label": REF_FILES["seg"],
                          "seed": seed, "mver": "1.5",
                          "config": {**extra, "spatial_size": list(FT_TRAIN_SIZE), "num_classes": NUM_CLASSES}})
    return specs


# ----------------------------------------------------------------------------------------------- worker side
def worker(ref, spec_path, out_path):
    warnings.filterwarnings("ignore")
    import torch, monai, nibabel
    from monai.transforms import (Compose, LoadImaged, EnsureChannelFirstd, Spacingd, ScaleIntensityRanged,
        CropForegroundd, SpatialPadd, RandSpatialCropSamplesd, CopyItemsd, OneOf, RandCoarseDropoutd,
        RandCoarseShuffled, Orientationd, RandCropByPosNegLabeld, RandFlipd, RandRotate90d, RandShiftIntensityd)
    torch.set_num_threads(1)
    LOG = []

    def logged(cls, tag, state):
        # Same transform, same RNG use; only records what fired after each call (one call per sample).
        class Logged(cls):
            def __call__(self, *a, **k):
                out = super().__call__(*a, **k)
                LOG.append((tag, state(self)))
                return out
        Logged.__name__ = cls.__name__
        return Logged

    def prefix(spec, stop_after):
        lbl = spec["label"] is not None
        keys = ["image", "label"] if lbl else ["image"]
        reader = {"reader": "NibabelReader"} if spec["image"].endswith((".hdr", ".hdr.gz")) else {}
        if spec["pipeline"] == "pretrain":
            t = [LoadImaged(keys=keys, **reader), EnsureChannelFirstd(keys=keys),
                 Spacingd(keys=keys, pixdim=(2.0, 2.0, 2.0), mode="bilinear")]
            if stop_after == "spacing": return t
            t += [ScaleIntensityRanged(keys=["image"], a_min=-57, a_max=164, b_min=0.0, b_max=1.0, clip=True),
                  CropForegroundd(keys=keys, source_key="image", allow_smaller=True)]
            return t
        pix = tuple(spec["config"].get("pixdim", TUTORIAL_FT_PIXDIM))
        t = [LoadImaged(keys=keys, **reader), EnsureChannelFirstd(keys=keys),
             Orientationd(keys=keys, axcodes="RAS"),
             Spacingd(keys=keys, pixdim=pix, mode=("bilinear", "nearest"))]
        if stop_after == "spacing": return t
        t += [ScaleIntensityRanged(keys=["image"], a_min=-175, a_max=250, b_min=0.0, b_max=1.0, clip=True),
              CropForegroundd(keys=keys, source_key="image", allow_smaller=True)]
        return t

    def chain(spec, log):
        L = (lambda cls, tag, st: logged(cls, tag, st)) if log else (lambda cls, tag, st: cls)
        t = prefix(spec, "crop")
        if spec["pipeline"] == "pretrain":
            def view(k):
                Drop = lambda tag: L(RandCoarseDropoutd, (k, tag), lambda s: True)
                return [OneOf(transforms=[
                            Drop("inpaint")(keys=[k], prob=1.0, holes=6, spatial_size=5, dropout_holes=True, max_spatial_size=32),
                            Drop("outpaint")(keys=[k], prob=1.0, holes=6, spatial_size=20, dropout_holes=False, max_spatial_size=64)]),
                        L(RandCoarseShuffled, (k, "shuffle"), lambda s: bool(s._do_transform))(
                            keys=[k], prob=0.8, holes=10, spatial_size=8)]
            t += [SpatialPadd(keys=["image"], spatial_size=(96, 96, 96)),
                  RandSpatialCropSamplesd(keys=["image"], roi_size=(96, 96, 96), random_size=False, num_samples=2),
                  CopyItemsd(keys=["image"], times=2, names=["gt_image", "image_2"], allow_missing_keys=False)]
            t += view("image") + view("image_2")
        elif spec["pipeline"] == "finetune-train":
            kk = ["image", "label"]
            flip = lambda ax: L(RandFlipd, ("flip%d" % ax,), lambda s: bool(s._do_transform))(
                keys=kk, spatial_axis=[ax], prob=0.10)
            t += [RandCropByPosNegLabeld(keys=kk, label_key="label", spatial_size=tuple(spec["config"]["spatial_size"]),
                                         pos=1, neg=1, num_samples=4, image_key="image", image_threshold=0),
                  flip(0), flip(1), flip(2),
                  L(RandRotate90d, ("rot90",), lambda s: int(s._rand_k) if s._do_transform else None)(
                      keys=kk, prob=0.10, max_k=3),
                  L(RandShiftIntensityd, ("shift",), lambda s: float(s.shifter._offset) if s._do_transform else None)(
                      keys=["image"], offsets=0.10, prob=0.50)]
        return Compose(t)

    def data(spec):
        d = {"image": os.path.join(ref, spec["image"])}
        if spec["label"] is not None: d["label"] = os.path.join(ref, spec["label"])
        return d

    def stats(v, with_sum=True, with_affine=True):
        a = v.detach().cpu().numpy()
        r = {"shape": list(a.shape)}
        if with_sum: r.update(sum=float(a.astype(np.float64).sum()), wsum=wsum(a))
        if with_affine: r["affine"] = np.asarray(v.affine, dtype=np.float64).tolist()
        return r

    def summarise(out):
        res = []
        for s in (out if isinstance(out, list) else [out]):
            res.append({k: stats(v, with_affine=False) for k, v in s.items()
                        if isinstance(v, torch.Tensor) and v.ndim == 4})
        return res

    def fired(spec, n_samples):
        # LOG is in Compose order: each transform over all samples, then the next transform.
        if spec["pipeline"] == "pretrain":
            per = [dict() for _ in range(n_samples)]
            counters = {}
            for tag, st in LOG:
                k, what = tag
                slot = "shuffle" if what == "shuffle" else "dropout"
                i = counters.get((k, slot), 0); counters[(k, slot)] = i + 1
                if slot == "dropout": per[i % n_samples][k] = what
                else: per[i % n_samples][k + "_shuffle"] = st
            return per
        if spec["pipeline"] == "finetune-train":
            per = [dict() for _ in range(n_samples)]
            counters = {}
            for (what,), st in LOG:
                i = counters.get(what, 0); counters[what] = i + 1
                per[i % n_samples][what] = st
            return per
        return None

    def half_even_label(spec, cf):
        # Not MONAI: the label after the deterministic prefix with nearest resampling done on exact coordinates
        # (src_d = i * out_spacing_d / in_spacing_d, clamped, np.rint = round half to even), cropped with MONAI's
        # foreground box. Axis-aligned affines only (true here).
        ori = Compose(prefix(spec, "spacing")[:3])(data(spec))["label"]
        A = np.asarray(ori.affine, dtype=np.float64); N = np.asarray(cf["label"].affine, dtype=np.float64)
        assert np.allclose(A[:3, :3], np.diag(np.diag(A[:3, :3]))) and np.all(np.diag(A)[:3] > 0)
        lab = ori.numpy()[0]
        sp = Compose(prefix(spec, "spacing"))(data(spec))["label"]
        idx = [np.rint(np.clip(np.arange(n) * (N[d, d] / A[d, d]), 0, lab.shape[d] - 1)).astype(int)
               for d, n in enumerate(sp.shape[1:])]
        out = lab[np.ix_(*idx)]
        st, en = cf["foreground_start_coord"], cf["foreground_end_coord"]
        out = out[st[0]:en[0], st[1]:en[1], st[2]:en[2]][None]
        return {"shape": list(out.shape), "sum": float(out.astype(np.float64).sum()), "wsum": wsum(out)}

    specs = json.load(open(spec_path))
    results = []
    for spec in specs:
        assert monai.__version__.startswith(spec["mver"]), (monai.__version__, spec["mver"])
        sp = Compose(prefix(spec, "spacing"))(data(spec))
        cf = Compose(prefix(spec, "crop"))(data(spec))
        keys = ["image"] + (["label"] if spec["label"] is not None else [])
        c = chain(spec, log=False); c.set_random_state(seed=spec["seed"])
        out = c(data(spec))
        samples = summarise(out)
        LOG.clear()
        c2 = chain(spec, log=True); c2.set_random_state(seed=spec["seed"])
        samples2 = summarise(c2(data(spec)))
        assert samples2 == samples, "logging subclasses changed the result"
        extra = {}
        if spec["label"] is not None:
            extra["label_half_even_numpy"] = half_even_label(spec, cf)
        results.append({**extra, "monai": monai.__version__, "torch": torch.__version__, "numpy": np.__version__,
                        "nibabel": nibabel.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                        "samples": samples, "fired": fired(spec, len(samples)),
                        "after_spacing": {k: stats(sp[k], with_sum=False) for k in keys},
                        "after_crop_foreground": {k: stats(cf[k]) for k in keys}})
        print("  ", spec["pipeline"], spec["image"].split("/")[-1], "seed", spec["seed"], "monai", monai.__version__,
              results[-1]["cpu_capability"], "ok", file=sys.stderr, flush=True)
    json.dump(results, open(out_path, "w"))


# ------------------------------------------------------------------------------------------- orchestrator side
def close(a, b, rel=0.0):
    """Same sample summaries (shapes equal; sums within rel, 0 = bit-exact)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], rel) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, float):
        return a == b or abs(a - b) <= rel * max(abs(b), 1.0)
    return a == b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ref"); ap.add_argument("out")
    ap.add_argument("--monai16", help="folder holding monai 1.6.x (pip --target), prepended to PYTHONPATH")
    ap.add_argument("--worker", nargs=2, metavar=("SPECS", "RESULTS"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(a.ref, *a.worker)
    specs = run_specs(a.monai16)
    tmp = tempfile.mkdtemp(prefix="gen_monai_chains_")

    def call(group, env_extra, tag):
        sp, rp = os.path.join(tmp, tag + "_specs.json"), os.path.join(tmp, tag + "_res.json")
        json.dump(group, open(sp, "w"))
        env = {**os.environ, **env_extra}
        print("worker", tag, len(group), "runs", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, os.path.abspath(__file__), a.ref, a.out, "--worker", sp, rp], env=env, check=True)
        return json.load(open(rp))

    by_ver = {}
    for mver, extra in [("1.5", {}), ("1.6", {"PYTHONPATH": a.monai16 or ""})]:
        group = [s for s in specs if s["mver"] == mver]
        if not group: continue
        by_ver[mver] = (group, call(group, extra, mver + "_native"),
                        call(group, {**extra, "ATEN_CPU_CAPABILITY": "default"}, mver + "_nosimd"))
    runs, versions = [], None
    for spec in specs:
        group, native, nosimd = by_ver[spec["mver"]]
        i = group.index(spec); r, q = native[i], nosimd[i]
        if spec["mver"] == "1.5": versions = {k: r[k] for k in ("monai", "torch", "numpy", "nibabel")}
        run = {k: spec[k] for k in ("pipeline", "image", "label", "seed", "config")}
        run["monai"] = r["monai"]
        run["samples"] = r["samples"]
        run["after_spacing"] = r["after_spacing"]
        run["after_crop_foreground"] = r["after_crop_foreground"]
        run["fired"] = r["fired"]
        dep = not (close(r["samples"], q["samples"]) and close(r["after_crop_foreground"], q["after_crop_foreground"]))
        run["cpu_dependent"] = dep
        if dep:
            run["cpu_dependent_keys"] = sorted({k for x, y in zip(r["samples"], q["samples"]) for k in x
                                                if not close(x[k], y[k])})
        if "label_half_even_numpy" in r:
            run["label_half_even_numpy"] = r["label_half_even_numpy"]
        notes = []
        if spec["image"].endswith(".hdr"):
            notes.append('LoadImaged(reader="NibabelReader"): with default reader selection MONAI raises '
                         '"cannot find a suitable reader" for .hdr/.img pairs')
        if dep:
            run["samples_by_cpu"] = {r["cpu_capability"]: r["samples"], q["cpu_capability"]: q["samples"]}
            run["after_crop_foreground_by_cpu"] = {r["cpu_capability"]: r["after_crop_foreground"],
                                                   q["cpu_capability"]: q["after_crop_foreground"]}
            notes.append("torch CPU kernels (%s vs %s) give different results: nearest label resampling at exact "
                         "half-voxel ties; not a bit-exact target" % (r["cpu_capability"], q["cpu_capability"]))
        if spec["pipeline"] == "finetune-train" and r["fired"]:
            f = r["fired"]
            which = sorted({k for s in f for k in ("flip0", "flip1", "flip2") if s.get(k)})
            rot = [s["rot90"] for s in f if s.get("rot90")]
            shifts = sum(1 for s in f if s.get("shift") is not None)
            notes.append("fired: flips %s; rot90 k %s; shift in %d of %d samples"
                         % (which or "none", rot or "none", shifts, len(f)))
        if spec["pipeline"] == "pretrain" and r["fired"]:
            notes.append("OneOf per sample: " + ", ".join("s%d %s/%s" % (i, s["image"], s["image_2"])
                                                          for i, s in enumerate(r["fired"])))
        run["notes"] = "; ".join(notes)
        # The files the run read, as the reference set's reference.json names them (SHA-256 of the
        # file's bytes; of the .hdr for a pair): the test skips a run whose file differs or is absent.
        for key in ("image", "label"):
            path = spec[key]
            run[key + "_sha256"] = (hashlib.sha256(open(os.path.join(a.ref, path), "rb").read()).hexdigest()
                                    if path else None)
        runs.append(run)
    doc = {"generator": "scripts/reference/gen_monai_chains.py",
           "reference_layout": "image/label paths are relative to SSL3D_REFERENCE_DIR",
           **versions, "monai_versions": sorted({r["monai"] for r in runs}),
           "runs": runs}
    json.dump(doc, open(a.out, "w"), indent=1, allow_nan=False)
    print("wrote", a.out, len(runs), "runs,", sum(r["cpu_dependent"] for r in runs), "cpu_dependent")


if __name__ == "__main__":
    main()
