"""MONAI's trilinear `Resize` on boxes of a volume, for ConVIRT's CT views
(tests/it/convirt_ct.rs: `transforms::volume_views::resize_trilinear` and `VolumeViews::apply`).

Made with MONAI 1.5.0 and torch 2.6.0 (CPU) by
    pip install torch==2.6.0 "monai==1.5.0" numpy
    python3 scripts/reference/gen_volume_views.py > tests/fixtures/volume_views.json

The input is a formula (`value(x, y, z)` below), so the test rebuilds it; each case is a box of
it (start, size) resized to `out` by `monai.transforms.Resize(out, mode="trilinear")`
(`torch.nn.functional.interpolate(..., align_corners=False)`), optionally flipped along the first
spatial axis as `monai.transforms.Flip(spatial_axis=0)`.
"""
import json
import math

import monai
import numpy as np
import torch
from monai.transforms import Flip, Resize

SHAPE = (11, 9, 7)


def value(x, y, z):
    return math.sin(0.7 * x + 0.3) * math.cos(0.45 * y) + 0.1 * z * z - 0.05 * x * y


def main():
    vol = np.array(
        [[[value(x, y, z) for z in range(SHAPE[2])] for y in range(SHAPE[1])] for x in range(SHAPE[0])],
        dtype=np.float32,
    )
    cases = []
    for start, size, out, flip in [
        ((0, 0, 0), SHAPE, (6, 5, 4), False),  # the whole volume, down
        ((0, 0, 0), SHAPE, (16, 13, 10), False),  # the whole volume, up
        ((2, 1, 1), (8, 7, 5), (5, 5, 5), False),  # a box, down
        ((3, 2, 0), (6, 6, 7), (9, 4, 8), True),  # a box, mixed, flipped
    ]:
        box = vol[start[0]:start[0] + size[0], start[1]:start[1] + size[1], start[2]:start[2] + size[2]]
        t = Resize(spatial_size=out, mode="trilinear")(torch.from_numpy(box.copy())[None])
        if flip:
            t = Flip(spatial_axis=0)(t)
        cases.append({
            "start": list(start),
            "size": list(size),
            "out": list(out),
            "flip": flip,
            "values": [float(v) for v in np.asarray(t[0]).reshape(-1)],
        })
    print(json.dumps({
        "monai": monai.__version__,
        "torch": torch.__version__,
        "shape": list(SHAPE),
        "formula": "sin(0.7 x + 0.3) cos(0.45 y) + 0.1 z^2 - 0.05 x y",
        "cases": cases,
    }))


if __name__ == "__main__":
    main()
