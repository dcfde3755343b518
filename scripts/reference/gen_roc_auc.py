"""scikit-learn's `roc_auc_score` on binary labels with tied scores, for `metrics::roc_auc`
(tests/it/convirt_eval.rs).

Made with scikit-learn 1.9.1 and numpy (CPU) by
    pip install scikit-learn numpy
    python3 scripts/reference/gen_roc_auc.py > tests/fixtures/roc_auc.json
"""
import json

import numpy as np
import sklearn
from sklearn.metrics import roc_auc_score


def main():
    rng = np.random.default_rng(7)
    cases = []
    for n, levels in [(10, None), (40, 5), (200, None), (200, 3), (7, 2)]:
        labels = rng.random(n) < 0.4
        labels[0], labels[1] = True, False
        scores = rng.normal(size=n) + 0.8 * labels
        if levels is not None:
            scores = np.round(scores * levels / 4) * 4 / levels  # many ties
        cases.append({
            "scores": [float(s) for s in scores],
            "labels": [bool(l) for l in labels],
            "auc": float(roc_auc_score(labels, scores)),
        })
    print(json.dumps({"sklearn": sklearn.__version__, "cases": cases}))


if __name__ == "__main__":
    main()
