"""Nearest-neighbour Spacing at exact half-voxel ties, computed by real MONAI, for
tests/it/spacing_ties.rs.

Made with MONAI 1.5.0 and torch 2.6.0 (CPU build, on an AVX-512 CPU: torch's default kernels there)
by
    pip install "monai==1.5.0" torch numpy
    python3 scripts/reference/gen_spacing_ties.py tests/fixtures/spacing_nearest_ties.json

Every case is a volume with a diagonal affine resampled by `Spacing(pixdim, mode="nearest")` (MONAI's
defaults otherwise: border padding, align_corners=False, float64). Spacing ratios of 2:1 and 4:2 put
every other output voxel exactly halfway between two input voxels, where MONAI's float64 coordinate
arithmetic (normalised affine, torch's linspace and affine_grid, grid_sample's unnormalisation and
nearbyint) decides the tie; a fixed rounding rule on exact coordinates does not reproduce it.

Per case: shape, affine (4x4), pixdim, out_shape, and
  index_maps: for each axis d, MONAI's output of a volume whose voxels hold their own index along d
      (read along that axis: the input index each output index samples; the grid is separable);
  label_runs: MONAI's output of the thin-structure label below.
The label (values 1-3, one voxel thick) is defined on input voxel (i, j, k) of shape (X, Y, Z) as:
  1 where i % 5 == 2 and j % 7 == 3 (lines along z); 2 where k == Z // 2 and i < X // 2 (a half
  plane); 3 where i == j and k % 6 == 0 (diagonal strips); the first rule that holds wins; else 0.
It is stored as runs over the flat C-order output: [[value, count], ...].
"""
import json, sys

import monai
import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Spacing

torch.set_num_threads(1)

CASES = [
    # (shape, diagonal of the affine, translation, pixdim)
    ((37, 41, 23), (3.0, 3.0, 3.0), (-10.0, 5.0, 2.5), (1.5, 1.5, 1.5)),      # 2:1 in every axis
    ((29, 34, 19), (4.0, 4.0, 4.0), (12.0, -7.5, 0.0), (2.0, 2.0, 2.0)),      # 4:2 in every axis
    ((64, 60, 40), (0.76, 0.76, 3.0), (-180.0, -170.0, 40.0), (1.5, 1.5, 2.0)),  # BTCV-like
    ((50, 45, 30), (0.8, 0.8, 4.0), (0.0, 0.0, 0.0), (1.5, 1.5, 2.0)),        # 4 mm slices to 2 mm
    ((33, 28, 26), (-3.0, -3.0, 3.0), (90.0, 80.0, -20.0), (1.5, 1.5, 1.5)),  # LPS-like, no orientation
]


def label_volume(shape):
    x, y, z = shape
    i, j, k = np.meshgrid(np.arange(x), np.arange(y), np.arange(z), indexing="ij")
    lab = np.zeros(shape, dtype=np.float32)
    lab[(i == j) & (k % 6 == 0)] = 3
    lab[(k == z // 2) & (i < x // 2)] = 2
    lab[(i % 5 == 2) & (j % 7 == 3)] = 1
    return lab


def resample(arr, affine, pixdim):
    img = MetaTensor(torch.from_numpy(arr)[None], affine=torch.tensor(affine))
    out = Spacing(pixdim=pixdim, mode="nearest")(img)
    return out[0].numpy(), out.affine.numpy()


def main(out_path):
    cases = []
    for shape, diag, trans, pixdim in CASES:
        affine = np.diag(list(diag) + [1.0])
        affine[:3, 3] = trans
        maps = []
        out_shape = None
        for d in range(3):
            idx = np.zeros(shape, dtype=np.float32)
            sh = [1, 1, 1]
            sh[d] = shape[d]
            idx += np.arange(shape[d], dtype=np.float32).reshape(sh)
            res, _ = resample(idx, affine, pixdim)
            out_shape = list(res.shape)
            sl = [0, 0, 0]
            sl[d] = slice(None)
            line = res[tuple(sl)]
            # separable: every line along d is the same
            assert (res == np.expand_dims(line, [a for a in range(3) if a != d])).all()
            maps.append([int(v) for v in line])
        lab, out_affine = resample(label_volume(shape), affine, pixdim)
        flat = lab.ravel().astype(int)
        edges = np.flatnonzero(np.diff(flat)) + 1
        starts = np.concatenate([[0], edges])
        counts = np.diff(np.concatenate([starts, [flat.size]]))
        cases.append({
            "shape": list(shape), "affine": affine.tolist(), "pixdim": list(pixdim),
            "out_shape": out_shape, "out_affine": out_affine.tolist(), "index_maps": maps,
            "label_runs": [[int(flat[s]), int(c)] for s, c in zip(starts, counts)],
        })
    doc = {"monai": monai.__version__, "torch": torch.__version__,
           "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cases": cases}
    with open(out_path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
