"""HD95 (and Dice) reference values from real MONAI for ssl3d's metrics tests.

Made with monai 1.5.0, torch 2.6.0 (CPU), numpy 2.4.6 (exact versions are in the JSON), by
    pip install "monai==1.5.0" torch nibabel numpy
    python3 scripts/reference/gen_hd95.py tests/fixtures/hd95_monai.json
Each case defines a prediction and a ground-truth label map on a small grid by shapes painted in order over
background 0: {"class": c, "box": [[x0, x1], [y0, y1], [z0, z1]]} (half-open index ranges) or
{"class": c, "sphere": [cx, cy, cz], "radius": r} (voxel idx inside iff sum_d ((idx_d - c_d) * s_d)^2 <= r^2, with
s = the case's spacing, or 1 when the case's spacing is null). The label maps are one-hot encoded to
(1, classes, X, Y, Z) float32. Per case:
  hd95: HausdorffDistanceMetric(include_background=False, percentile=95, distance_metric="euclidean",
        directed=False)(y_pred, y, spacing=...) then aggregate(reduction="none")[0]: one value per foreground class
        1..classes-1; non-finite values are null, and
  hd95_raw: the same values as strings ("nan", "inf" or repr of the float32 value widened to float64),
  hd95_fn / hd95_fn_raw: monai.metrics.compute_hausdorff_distance(y_pred, y, include_background=False,
        distance_metric="euclidean", percentile=95, directed=False, spacing=...)[0] (same as hd95 here),
  dice / dice_raw: DiceMetric(include_background=True, reduction="none") (ignore_empty=True), one value per class
        0..classes-1 including background, non-finite as null,
  warnings: the warning messages MONAI emitted for the case (empty prediction / ground truth).
"spacing": null means the metric was called without spacing (unit voxels).
"""
import json, math, sys, warnings
import numpy as np, torch, monai
from monai.metrics import HausdorffDistanceMetric, DiceMetric, compute_hausdorff_distance


def paint(shape, shapes, spacing):
    lab = np.zeros(shape, dtype=np.int64)
    sp = np.array(spacing if spacing is not None else [1.0, 1.0, 1.0], dtype=np.float64)
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
    return v if math.isfinite(v) else None


def raw(v):
    v = float(v)
    return "nan" if math.isnan(v) else ("inf" if v == math.inf else ("-inf" if v == -math.inf else repr(v)))


G = [20, 18, 16]
cases = [
    {"name": "overlapping_boxes", "shape": G, "classes": 3, "spacing": None,
     "pred": [{"class": 1, "box": [[2, 10], [3, 12], [2, 9]]}, {"class": 2, "box": [[11, 18], [4, 9], [8, 14]]}],
     "gt": [{"class": 1, "box": [[3, 11], [2, 12], [3, 10]]}, {"class": 2, "box": [[12, 19], [5, 11], [7, 13]]}]},
    {"name": "overlapping_boxes_spacing_1", "shape": G, "classes": 3, "spacing": [1.0, 1.0, 1.0],
     "pred": [{"class": 1, "box": [[2, 10], [3, 12], [2, 9]]}, {"class": 2, "box": [[11, 18], [4, 9], [8, 14]]}],
     "gt": [{"class": 1, "box": [[3, 11], [2, 12], [3, 10]]}, {"class": 2, "box": [[12, 19], [5, 11], [7, 13]]}]},
    {"name": "overlapping_boxes_painted_over", "shape": G, "classes": 4, "spacing": [0.8, 0.8, 2.5],
     "pred": [{"class": 1, "box": [[1, 14], [2, 15], [1, 12]]}, {"class": 2, "box": [[6, 12], [5, 11], [4, 9]]},
              {"class": 3, "box": [[12, 19], [10, 17], [8, 15]]}],
     "gt": [{"class": 1, "box": [[2, 15], [1, 14], [2, 13]]}, {"class": 2, "box": [[5, 10], [6, 12], [5, 10]]},
            {"class": 3, "box": [[13, 20], [11, 18], [9, 16]]}]},
    {"name": "shifted_spheres_anisotropic", "shape": G, "classes": 3, "spacing": [0.8, 0.8, 2.5],
     "pred": [{"class": 1, "sphere": [8, 8, 7], "radius": 5.0}, {"class": 2, "sphere": [14, 11, 9], "radius": 3.5}],
     "gt": [{"class": 1, "sphere": [9, 8, 8], "radius": 5.5}, {"class": 2, "sphere": [14, 12, 8], "radius": 4.0}]},
    {"name": "shifted_spheres_isotropic", "shape": G, "classes": 3, "spacing": None,
     "pred": [{"class": 1, "sphere": [7, 8, 7], "radius": 4.5}, {"class": 2, "sphere": [14, 10, 9], "radius": 3.0}],
     "gt": [{"class": 1, "sphere": [9, 9, 8], "radius": 5.0}, {"class": 2, "sphere": [13, 11, 10], "radius": 3.2}]},
    {"name": "spheres_isotropic_spacing_2", "shape": G, "classes": 2, "spacing": [2.0, 2.0, 2.0],
     "pred": [{"class": 1, "sphere": [10, 9, 8], "radius": 9.0}],
     "gt": [{"class": 1, "sphere": [11, 9, 8], "radius": 10.0}]},
    {"name": "single_voxel_prediction", "shape": G, "classes": 2, "spacing": None,
     "pred": [{"class": 1, "box": [[5, 6], [5, 6], [5, 6]]}],
     "gt": [{"class": 1, "box": [[4, 9], [4, 8], [4, 7]]}]},
    {"name": "single_voxel_both_anisotropic", "shape": G, "classes": 2, "spacing": [0.8, 0.8, 2.5],
     "pred": [{"class": 1, "box": [[5, 6], [5, 6], [5, 6]]}],
     "gt": [{"class": 1, "box": [[8, 9], [4, 5], [7, 8]]}]},
    {"name": "empty_prediction", "shape": G, "classes": 2, "spacing": None,
     "pred": [], "gt": [{"class": 1, "box": [[4, 9], [4, 8], [4, 7]]}]},
    {"name": "empty_ground_truth", "shape": G, "classes": 2, "spacing": None,
     "pred": [{"class": 1, "box": [[4, 9], [4, 8], [4, 7]]}], "gt": []},
    {"name": "both_empty", "shape": G, "classes": 2, "spacing": None, "pred": [], "gt": []},
    {"name": "class_absent_from_both", "shape": G, "classes": 4, "spacing": [1.5, 1.0, 3.0],
     "pred": [{"class": 1, "box": [[2, 12], [2, 10], [2, 8]]}, {"class": 3, "box": [[13, 17], [12, 16], [10, 14]]}],
     "gt": [{"class": 1, "box": [[3, 12], [1, 10], [3, 9]]}, {"class": 3, "box": [[12, 18], [11, 16], [9, 13]]}]},
    {"name": "class_absent_from_prediction_only", "shape": G, "classes": 4, "spacing": [0.8, 0.8, 2.5],
     "pred": [{"class": 1, "box": [[2, 12], [2, 10], [2, 8]]}],
     "gt": [{"class": 1, "box": [[3, 12], [1, 10], [3, 9]]}, {"class": 2, "sphere": [15, 13, 12], "radius": 2.6},
            {"class": 3, "box": [[12, 18], [11, 16], [9, 13]]}]},
    {"name": "class_absent_from_ground_truth_only", "shape": G, "classes": 4, "spacing": None,
     "pred": [{"class": 1, "box": [[2, 12], [2, 10], [2, 8]]}, {"class": 2, "box": [[14, 17], [3, 6], [11, 15]]},
              {"class": 3, "sphere": [15, 13, 5], "radius": 2.5}],
     "gt": [{"class": 1, "box": [[3, 12], [1, 10], [3, 9]]}, {"class": 3, "sphere": [14, 13, 6], "radius": 3.0}]},
]

for c in cases:
    p = paint(c["shape"], c["pred"], c["spacing"]); g = paint(c["shape"], c["gt"], c["spacing"])
    yp, yg = onehot(p, c["classes"]), onehot(g, c["classes"])
    kw = {} if c["spacing"] is None else {"spacing": c["spacing"]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hd = HausdorffDistanceMetric(include_background=False, percentile=95, distance_metric="euclidean", directed=False)
        hd(y_pred=yp, y=yg, **kw)
        v = hd.aggregate(reduction="none")[0].tolist()
        f = compute_hausdorff_distance(yp, yg, include_background=False, distance_metric="euclidean", percentile=95,
                                       directed=False, **kw)[0].tolist()
        dm = DiceMetric(include_background=True, reduction="none")
        dm(y_pred=yp, y=yg)
        dv = dm.aggregate()[0].tolist()
    c["voxels_pred"] = [int((p == k).sum()) for k in range(c["classes"])]
    c["voxels_gt"] = [int((g == k).sum()) for k in range(c["classes"])]
    c["hd95"] = [enc(x) for x in v]; c["hd95_raw"] = [raw(x) for x in v]
    c["hd95_fn"] = [enc(x) for x in f]; c["hd95_fn_raw"] = [raw(x) for x in f]
    c["dice"] = [enc(x) for x in dv]; c["dice_raw"] = [raw(x) for x in dv]
    c["warnings"] = sorted({str(w.message) for w in caught})
json.dump({"generator": "scripts/reference/gen_hd95.py", "monai": monai.__version__, "torch": torch.__version__,
           "numpy": np.__version__,
           "sphere_rule": "voxel idx inside iff sum_d ((idx_d - c_d) * s_d)^2 <= r^2, s = spacing or 1 when null",
           "box_rule": "half-open index ranges [x0,x1) x [y0,y1) x [z0,z1)",
           "paint_order": "shapes painted in list order over background 0 (later overwrite earlier)",
           "hd95_call": "HausdorffDistanceMetric(include_background=False, percentile=95, distance_metric='euclidean', "
                        "directed=False), per class 1..classes-1",
           "dice_call": "DiceMetric(include_background=True, reduction='none'), per class 0..classes-1",
           "cases": cases}, open(sys.argv[1], "w"), indent=1, allow_nan=False)
print("wrote", sys.argv[1], len(cases), "cases")
for c in cases:
    print(" ", c["name"], "hd95", c["hd95_raw"], "dice", [r[:6] for r in c["dice_raw"]], "warn", len(c["warnings"]))
