import json, numpy as np
from sklearn.metrics import roc_auc_score
D = "docs/results/demo_trial_20261207/cold"
s = np.load(f"{D}/scores.npz"); res = json.load(open(f"{D}/results.json"))
arm, seed, pt, y = s["arm"], s["seed"], s["test_prob"], s["y_test"]
def probs(a): return np.stack([pt[(arm == a) & (seed == k)][0][:, 1] for k in range(12)])
rng = np.random.default_rng(0)
idx0, idx1 = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
for a, b in (("+lsgan", "real"), ("+lsgan", "duplicate"), ("+lsgan", "weighted")):
    A, B = probs(a), probs(b)
    boots = []
    for _ in range(300):
        i = np.r_[rng.choice(idx0, len(idx0)), rng.choice(idx1, len(idx1))]
        boots.append(np.mean([roc_auc_score(y[i], A[k, i]) - roc_auc_score(y[i], B[k, i]) for k in range(12)]))
    row = next(r for r in res["trial"]["families"]["primary"] if r["comparison"] == f"{a} vs {b}")
    c = row["endpoints"]["auroc"]
    print(f"{a} vs {b}: bootstrap SD of the seed-mean diff over test images {np.std(boots, ddof=1):.4f}; "
          f"ORH test part {c['var_test']**0.5:.4f}, seeds part {c['var_seeds']**0.5:.4f}, SE {c['se']:.4f}, df {c['df']:.1f}")
