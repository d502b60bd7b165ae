"""radgen's radiomics view: the features of a fixed image equal a hand computation (explicit loops over pixel
pairs, SciPy's moments, NumPy's percentiles), and its Frechet distance has a floor and a ratio in the protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

from radgen.metrics.features import get_extractor
from radgen.metrics.protocol import compare
from radgen.metrics.radiomics import GLCM_NAMES, RADIOMICS_FEATURES, radiomics_features


def _image():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(7, 9)) ** 2  # skewed intensities, non-square
    x[2:5, 3:6] = 0.95  # a bright patch: texture at distance 1 and 3 differ
    return x


def _glcm_by_hand(q, dr, dc, levels=16):
    m = np.zeros((levels, levels))
    h, w = q.shape
    for r in range(h):
        for c in range(w):
            r2, c2 = r + dr, c + dc
            if 0 <= r2 < h and 0 <= c2 < w:
                m[q[r, c], q[r2, c2]] += 1
                m[q[r2, c2], q[r, c]] += 1
    return m / m.sum()


def _glcm_features_by_hand(p):
    out = dict.fromkeys(GLCM_NAMES, 0.0)
    lv = len(p)
    mu = sum(i * p[i, j] for i in range(lv) for j in range(lv))
    var = sum((i - mu) ** 2 * p[i, j] for i in range(lv) for j in range(lv))
    for i in range(lv):
        for j in range(lv):
            out["contrast"] += (i - j) ** 2 * p[i, j] / (lv - 1) ** 2
            out["dissimilarity"] += abs(i - j) * p[i, j] / (lv - 1)
            out["homogeneity"] += p[i, j] / (1 + (i - j) ** 2)
            out["asm"] += p[i, j] ** 2
            if p[i, j] > 0:
                out["glcm_entropy"] -= p[i, j] * math.log(p[i, j]) / math.log(lv * lv)
            out["correlation"] += (i - mu) * (j - mu) * p[i, j] / var
    return out


def test_features_of_a_fixed_image_equal_a_hand_computation():
    x = _image()
    got = dict(zip(RADIOMICS_FEATURES, radiomics_features(torch.from_numpy(x)[None, None])[0]))
    v = x.ravel()
    hist = np.array([np.sum(np.minimum((v * 32).astype(int), 31) == b) for b in range(32)]) / v.size
    nz = hist[hist > 0]
    want = {
        "mean": v.mean(),
        "std": v.std(),
        "skewness": scipy.stats.skew(v),
        "log_kurtosis": math.log(scipy.stats.kurtosis(v, fisher=False)),
        "entropy": -(nz * np.log2(nz)).sum() / 5,
        "uniformity": (hist**2).sum(),
        "energy": (v**2).mean(),
        "p10": np.percentile(v, 10),
        "median": np.median(v),
        "p90": np.percentile(v, 90),
        "iqr": scipy.stats.iqr(v),
        "mad": np.abs(v - v.mean()).mean(),
    }
    q = np.minimum((x * 16).astype(int), 15)
    for d in (1, 3):
        per_dir = [_glcm_features_by_hand(_glcm_by_hand(q, dr, dc)) for dr, dc in ((0, d), (-d, d), (-d, 0), (-d, -d))]
        for n in GLCM_NAMES:
            want[f"{n}_d{d}"] = np.mean([f[n] for f in per_dir])
    assert set(want) == set(RADIOMICS_FEATURES) and len(RADIOMICS_FEATURES) == 24
    for k in RADIOMICS_FEATURES:
        assert got[k] == pytest.approx(want[k], rel=1e-9, abs=1e-12), k


def test_constant_and_colour_images_follow_the_documented_conventions():
    f = dict(zip(RADIOMICS_FEATURES, radiomics_features(np.full((1, 1, 8, 8), 0.5))[0]))
    assert f["std"] == 0 and f["skewness"] == 0 and f["log_kurtosis"] == 0 and f["correlation_d1"] == 1
    assert f["asm_d1"] == 1 and f["glcm_entropy_d3"] == 0 and f["entropy"] == 0 and f["uniformity"] == 1
    grey = torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(radiomics_features(grey.expand(-1, 3, -1, -1)), radiomics_features(grey))


def _textures(n, seed, blur=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 32, 32, generator=g)
    k = torch.ones(1, 1, 2 * blur + 1, 2 * blur + 1) / (2 * blur + 1) ** 2
    return torch.nn.functional.conv2d(x, k, padding=blur).clamp(0, 1)


def test_fd_radiomics_has_a_floor_and_separates_noise_and_blur():
    ex = get_extractor("radiomics")
    assert ex.distance_name == "FD_radiomics" and ex.dim == 24 and len(ex.weights_sha256) == 64
    real, floor = ex(_textures(200, 0)), ex(_textures(200, 1))
    noise, blurred = (
        ex(torch.rand(200, 1, 32, 32, generator=torch.Generator().manual_seed(2))),
        ex(_textures(200, 3, 3)),
    )
    torch.testing.assert_close(ex(_textures(5, 0)), real[:5], rtol=0, atol=0)  # deterministic
    b_noise = compare(real, floor, noise, bootstrap=0)
    b_blur = compare(real, floor, blurred, bootstrap=0)
    same = compare(real, floor, ex(_textures(200, 4)), bootstrap=0)
    assert b_noise["FD_ratio"] > 20 and b_blur["FD_ratio"] > 20  # the floor is a second real sample
    assert 0.2 < same["FD_ratio"] < 5  # a third draw of the real process sits at the floor's scale


def test_the_evaluation_protocol_uses_the_radiomics_view_by_name(data_dir):
    """What ``radgen evaluate --features radiomics`` runs: the protocol's block with floor and ratio, rendered."""
    from radgen.data import DataConfig, load_dataset
    from radgen.evaluation import EvaluationResult, build_sets, evaluate_generator

    dcfg = DataConfig(name="pneumoniamnist", val_from_train=0.1)
    ds = load_dataset(dcfg, progress=False)
    sets = build_sets(ds, n=200, seed=0)

    def noise(labels, seed):
        return torch.rand(len(labels), 1, 28, 28, generator=torch.Generator().manual_seed(seed))

    m, _ = evaluate_generator(
        noise, ds, conditional=False, data_config=dcfg, n=200, features=("radiomics",), bootstrap=4, sets=sets,
        shifted_test=False,
    )  # fmt: skip
    f = m["features"]["radiomics"]
    assert f["distance_name"] == "FD_radiomics" and f["extractor"]["dim"] == 24
    assert (
        f["FD_radiomics_ratio"] == pytest.approx(f["FD_radiomics"] / f["FD_radiomics_floor"])
        and f["FD_radiomics_ratio"] > 20
    )
    d = EvaluationResult(m).distance("radiomics")  # what metrics.md's table reads
    assert d.name == "FD_radiomics" and d.floor == f["FD_radiomics_floor"] and d.ratio == f["FD_radiomics_ratio"]
