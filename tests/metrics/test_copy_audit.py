"""The copy audit: copies (exact, flipped, shifted 1-4 px, cropped 1-2 px, re-exposed) of any training image are
flagged, real held-out images at the nominal rate, and no seed changes a verdict."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import binom

from radgen.data import load_dataset
from radgen.errors import DataError
from radgen.metrics.copy_audit import (
    Geometry,
    conformal_threshold,
    copy_audit,
    copy_scores,
    prepare,
    refusal_count,
)


@pytest.fixture(scope="module")
def pneumonia():
    ds = load_dataset("pneumoniamnist", progress=False)
    return ds["train"].images, ds["val"].images, ds["test"].images


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Content moved by (dy, dx) px, the border filled by replicating the edge (no wrap-around)."""
    s = max(abs(dy), abs(dx))
    p = F.pad(x, (s, s, s, s), mode="replicate")
    h = x.shape[-1]
    return p[..., s - dy : s - dy + h, s - dx : s - dx + h]


def cropped(x: torch.Tensor, c: int) -> torch.Tensor:
    """The central (S - 2c) px resized back to S px (bilinear), as an editor would crop and resize."""
    h = x.shape[-1]
    return F.interpolate(x[..., c : h - c, c : h - c], size=(h, h), mode="bilinear", align_corners=False)


CASES = {
    "exact": lambda x: x,
    "flipped": lambda x: x.flip(-1),
    "shift 1 px": lambda x: shifted(x, 1, -1),
    "shift 2 px": lambda x: shifted(x, 2, 0),
    "shift 3 px": lambda x: shifted(x, -3, 2),
    "shift 4 px": lambda x: shifted(x, 4, 4),
    "flipped and shifted 3 px": lambda x: shifted(x.flip(-1), 0, -3),
    "crop 1 px a side, resized": lambda x: cropped(x, 1),
    "crop 2 px a side, resized": lambda x: cropped(x, 2),
    "flipped, cropped 1 px and shifted 2 px": lambda x: shifted(cropped(x.flip(-1), 1), 2, -2),
    "brighter": lambda x: (0.8 * x + 0.15).clamp(0, 1),
    "more contrast": lambda x: ((x - 0.5) * 1.3 + 0.5).clamp(0, 1),
}


@pytest.fixture(scope="module")
def audits(pneumonia):
    """Every case audited against the whole training split (4,708 images), calibrated on the val split."""
    train, val, _ = pneumonia
    src = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:150]]
    return {name: copy_audit(f(src), train, val, alpha=0.01) for name, f in CASES.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_copies_of_training_images_are_flagged(audits, case):
    a = audits[case]
    assert a["n_train_searched"] == 4708 and a["nominal_false_positive_rate"] == 0.01
    assert a["fraction_flagged"] >= 0.95, (case, a["fraction_flagged"], a["threshold"])
    assert a["copying"]  # far more flags than a novel generator shows


@pytest.mark.parametrize("alpha", [0.01, 0.05])
def test_real_heldout_images_are_flagged_at_the_nominal_rate(pneumonia, alpha):
    train, val, test = pneumonia
    a = copy_audit(test, train, val, alpha=alpha)  # test images: never trained on, no duplicates of train
    assert abs(a["fraction_flagged"] - alpha) <= 0.03, a["fraction_flagged"]
    assert not a["copying"]
    assert a["heldout_duplicates_of_train"] >= 1  # the official val split holds films identical to training ones


def test_the_data_mean_is_not_a_copy(pneumonia):
    """The mean of 1,000 training films is close to every film in pixel distance, and a copy of none."""
    train, val, _ = pneumonia
    mean = train[:1000].mean(0, keepdim=True)
    a = copy_audit(mean.expand(20, -1, -1, -1), train, val, alpha=0.01)
    assert a["n_flagged"] == 0 and a["score_median"] < a["threshold"]


def test_no_seed_and_no_order_changes_a_verdict(pneumonia):
    train, val, _ = pneumonia
    gen = torch.cat([train[:30], val[:30]])
    torch.manual_seed(1)
    a = copy_audit(gen, train[:2000], val[30:], alpha=0.05)
    torch.manual_seed(12345)
    perm = torch.randperm(2000, generator=torch.Generator().manual_seed(7))
    b = copy_audit(gen, train[:2000][perm], val[30:].flip(0), alpha=0.05)
    assert a["threshold"] == pytest.approx(b["threshold"], abs=1e-6)
    torch.testing.assert_close(a["_scores"], b["_scores"], atol=1e-5, rtol=0)
    assert a["n_flagged"] == b["n_flagged"] and a["copying"] == b["copying"]


def _reference_scores(q: torch.Tensor, t: torch.Tensor, geo: Geometry, crops=(0, 1, 2)) -> np.ndarray:
    """max over train, crops, flips and shifts of the NCC, by plain loops in NumPy (float64)."""
    qp = prepare(q, geo)[:, 0].double().numpy()
    tp = np.concatenate([prepare(cropped(t, c) if c else t, geo)[:, 0].double().numpy() for c in crops])
    s, c = geo.shift, geo.crop

    def unit(v):
        v = v.ravel() - v.mean()
        return v / max(np.linalg.norm(v), 1e-8)

    centres = [unit(x[s : s + c, s : s + c]) for x in tp]
    out = []
    for x in qp:
        best = -2.0
        for img, dy, dx in itertools.product((x, x[:, ::-1]), range(-s, s + 1), range(-s, s + 1)):
            w = unit(img[s + dy : s + dy + c, s + dx : s + dx + c])
            best = max(best, max(float(w @ r) for r in centres))
        out.append(best)
    return np.array(out)


def test_scores_equal_a_brute_force_reference():
    g = torch.Generator().manual_seed(0)
    train = torch.rand(25, 1, 20, 20, generator=g)
    queries = torch.cat([shifted(train[:3].flip(-1), 2, -1), torch.rand(4, 1, 20, 20, generator=g)])
    geo = Geometry.for_size(20)
    got = copy_scores(queries, train, candidates=25)  # every training image re-scored: the exact maximum
    np.testing.assert_allclose(got["score"].numpy(), _reference_scores(queries, train, geo), atol=1e-5)
    assert got["index"][:3].tolist() == [0, 1, 2] and got["flipped"][:3].all()
    # without crops the search is the flips-and-shifts maximum; a cropped copy is found at its crop
    flat = copy_scores(queries, train, candidates=25, max_crop=0)
    np.testing.assert_allclose(flat["score"].numpy(), _reference_scores(queries, train, geo, (0,)), atol=1e-5)
    zoom = copy_scores(cropped(train[5:8], 2), train, candidates=25)
    assert zoom["index"].tolist() == [5, 6, 7] and zoom["crop"].tolist() == [2, 2, 2]
    assert (zoom["score"] > 0.999).all() and (flat["score"] <= got["score"] + 1e-6).all()


def test_conformal_threshold_and_refusal_count_by_hand():
    cal = torch.arange(1.0, 100.0)  # 99 scores 1..99
    assert conformal_threshold(cal, 0.01) == 99.0  # ceil(100 * 0.99) = 99th smallest
    assert conformal_threshold(cal, 0.05) == 95.0  # ceil(100 * 0.95) = 95th
    with pytest.raises(DataError, match="at least 99"):
        conformal_threshold(cal[:50], 0.01)
    assert refusal_count(1000, 0.01) == int(binom.ppf(0.999, 1000, 0.01))
    k = refusal_count(1000, 0.01)
    assert binom.sf(k, 1000, 0.01) <= 0.001 < binom.sf(k - 1, 1000, 0.01)
