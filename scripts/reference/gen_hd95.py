"""HD95 (and Dice) reference values from real MONAI for ssl3d's metrics tests.

Made with: monai 1.5.0, torch 2.6.0 (CPU), numpy, scipy, by
    pip install "monai==1.5.0" torch scipy
    python3 scripts/reference/gen_hd95.py tests/fixtures/hd95_monai.json
Each case defines a prediction and a ground-truth label map on a small grid by shapes painted in order over
background 0: {"class": c, "box": [[x0, x1], [y0, y1], [z0, z1]]} (half-open index ranges) or
{"class": c, "sphere": [cx, cy, cz], "radius": r} (voxel inside iff sum(((idx - c) * spacing)^2) <= r^2, with
spacing 1 when the case has none). MONAI's HausdorffDistanceMetric(include_background=False, percentile=95,
distance_metric="euclidean", directed=False) gives one value per foreground class (+inf / NaN as strings), and
DiceMetric(include_background=True, reduction="none") one per class including background.
"""
import json, sys
import numpy as np, torch, monai
from monai.metrics import HausdorffDistanceMetric, DiceMetric

def paint(shape, shapes, spacing):
    lab = np.zeros(shape, dtype=np.int64)
    sp = np.array(spacing if spacing is not None else [1.0, 1.0, 1.0])
    idx = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1).astype(np.float64)
    for s in shapes:
        if "box" in s:
            (x0, x1), (y0, y1), (z0, z1) = s["box"]
            lab[x0:x1, y0:y1, z0:z1] = s["class"]
        else:
            d = ((idx - np.array(s["sphere"], dtype=np.float64)) * sp) ** 2
            lab[d.sum(-1) <= s["radius"] ** 2] = s["class"]
    return lab

def onehot(lab, n):
    return torch.nn.functional.one_hot(torch.tensor(lab), n).permute(3, 0, 1, 2).unsqueeze(0).float()

def enc(v):
    v = float(v)
    return None if np.isnan(v) else ("inf" if np.isinf(v) else v)

G = [20, 18, 16]
cases = [
    {"name": "overlapping_boxes", "shape": G, "classes": 3, "spacing": None,
     "pred": [{"class": 1, "box": [[2, 10], [3, 12], [2, 9]]}, {"class": 2, "box": [[11, 18], [4, 9], [8, 14]]}],
     "gt": [{"class": 1, "box": [[3, 11], [2, 12], [3, 10]]}, {"class": 2, "box": [[12, 19], [5, 11], [7, 13]]}]},
    {"name": "shifted_spheres_anisotropic", "shape": G, "classes": 3, "spacing": [0.8, 0.8, 2.5],
     "pred": [{"class": 1, "sphere": [8, 8, 7], "radius": 5.0}, {"class": 2, "sphere": [14, 11, 9], "radius": 3.5}],
     "gt": [{"class": 1, "sphere": [9, 8, 8], "radius": 5.5}, {"class": 2, "sphere": [14, 12, 8], "radius": 4.0}]},
    {"name": "spheres_isotropic_spacing_2", "shape": G, "classes": 2, "spacing": [2.0, 2.0, 2.0],
     "pred": [{"class": 1, "sphere": [10, 9, 8], "radius": 9.0}],
     "gt": [{"class": 1, "sphere": [11, 9, 8], "radius": 10.0}]},
    {"name": "single_voxel_prediction", "shape": G, "classes": 2, "spacing": None,
     "pred": [{"class": 1, "box": [[5, 6], [5, 6], [5, 6]]}],
     "gt": [{"class": 1, "box": [[4, 9], [4, 8], [4, 7]]}]},
    {"name": "empty_prediction", "shape": G, "classes": 2, "spacing": None,
     "pred": [], "gt": [{"class": 1, "box": [[4, 9], [4, 8], [4, 7]]}]},
    {"name": "empty_ground_truth", "shape": G, "classes": 2, "spacing": None,
     "pred": [{"class": 1, "box": [[4, 9], [4, 8], [4, 7]]}], "gt": []},
    {"name": "both_empty", "shape": G, "classes": 2, "spacing": None, "pred": [], "gt": []},
    {"name": "class_absent_from_both", "shape": G, "classes": 4, "spacing": [1.5, 1.0, 3.0],
     "pred": [{"class": 1, "box": [[2, 12], [2, 10], [2, 8]]}, {"class": 3, "box": [[13, 17], [12, 16], [10, 14]]}],
     "gt": [{"class": 1, "box": [[3, 12], [1, 10], [3, 9]]}, {"class": 3, "box": [[12, 18], [11, 16], [9, 13]]}]},
]
for c in cases:
    p = paint(c["shape"], c["pred"], c["spacing"]); g = paint(c["shape"], c["gt"], c["spacing"])
    yp, yg = onehot(p, c["classes"]), onehot(g, c["classes"])
    hd = HausdorffDistanceMetric(include_background=False, percentile=95, distance_metric="euclidean", directed=False)
    kw = {} if c["spacing"] is None else {"spacing": c["spacing"]}
    hd(y_pred=yp, y=yg, **kw)
    c["hd95"] = [enc(v) for v in hd.aggregate(reduction="none")[0].tolist()]
    dm = DiceMetric(include_background=True, reduction="none")
    dm(y_pred=yp, y=yg)
    c["dice"] = [enc(v) for v in dm.aggregate()[0].tolist()]
json.dump({"generator": "scripts/reference/gen_hd95.py", "monai": monai.__version__, "torch": torch.__version__,
           "numpy": np.__version__, "cases": cases}, open(sys.argv[1], "w"), indent=1)
print("wrote", sys.argv[1], len(cases), "cases")
