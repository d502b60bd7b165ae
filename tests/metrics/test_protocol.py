"""The evaluation protocol (issue 18): reference set, real-vs-real floor, per class, label
fidelity, two extractors, rank agreement; checked with generators whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import linalg
from scipy.stats import kendalltau

from radgen.data import DataConfig, load_dataset
from radgen.data.base import DataSplits
from radgen.errors import ConfigError
from radgen.evaluation import build_sets, evaluate_generator
from radgen.metrics.protocol import compare, rank_agreement

N = 240  # reference size: >= 200, as the protocol requires of a held-out split


@pytest.fixture(scope="module")
def pneumonia(data_dir, tmp_path_factory):
    dcfg = DataConfig(name="pneumoniamnist", val_from_train=0.1)
    ds = load_dataset(dcfg, progress=False)
    return dcfg, ds, build_sets(ds, n=N, seed=0), tmp_path_factory.mktemp("extractors")


def _replay(ds, sets, *, swap: bool = False):
    """Real training images disjoint from the floor set, with the requested classes (or the other class)."""
    train = ds["train"]
    avail = np.setdiff1d(np.arange(len(train)), sets.floor_index)
    lab = train.labels[avail].numpy()

    def sample(labels: torch.Tensor, seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        out = torch.empty(len(labels), 1, *train.image_size)
        for c in labels.unique().tolist():
            where = (labels == c).nonzero().squeeze(1)
            pool = avail[lab == ((1 - c) if swap else c)]
            out[where] = train.subset(pool[torch.randperm(len(pool), generator=g)[: len(where)].numpy()]).images
        return out

    return sample


def _blur(x: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    k = torch.exp(-(torch.arange(-3, 4).double() ** 2) / (2 * sigma**2))
    k = (k / k.sum()).float()
    x = F.pad(x, (3, 3, 3, 3), mode="reflect")
    return F.conv2d(F.conv2d(x, k.view(1, 1, 1, 7)), k.view(1, 1, 7, 1))


def _evaluate(pneumonia, sampler, **kw):
    dcfg, ds, sets, cache = pneumonia
    m, _ = evaluate_generator(
        sampler,
        ds,
        conditional=True,
        data_config=dcfg,
        n=N,
        bootstrap=kw.pop("bootstrap", 4),
        extractor_epochs=1,
        extractor_cache=cache,
        sets=sets,
        shifted_test=kw.pop("shifted_test", False),
        extractor_seeds=kw.pop("extractor_seeds", 1),  # one extractor: these tests are not about the ensemble
        **kw,
    )
    return m


def test_reference_is_the_held_out_split_and_the_floor_matches_its_size_and_class_mix(pneumonia):
    dcfg, ds, sets, _ = pneumonia
    assert sets.reference_split == "val" and not sets.shifted and len(sets.reference) == N
    assert sets.floor.class_counts() == sets.reference.class_counts()
    ref_paths, train_paths = set(sets.reference.paths), set(sets.floor.paths)
    assert not ref_paths & train_paths and not ref_paths & set(ds["train"].paths)  # held out: never a training image
    assert sets.shifted_test is not None and sets.shifted_floor.class_counts() == sets.shifted_test.class_counts()
    # without a held-out split of >= 200 images the official test split is used, and said to be shifted
    no_val = DataSplits(
        ds.name, ds.path, {"train": ds["train"], "val": ds["val"].subset(range(16)), "test": ds["test"]}
    )
    fallback = build_sets(no_val, n=N, seed=0)
    assert fallback.reference_split == "test" and fallback.shifted and "shifted" in fallback.notes[0]
    with pytest.raises(ConfigError, match="val_from_train"):
        build_sets(no_val, n=N, seed=0, reference="val")


def test_floor_equals_a_hand_computation_with_scipy():
    rng = np.random.default_rng(0)
    ref, flo, gen = rng.normal(size=(60, 4)), rng.normal(size=(60, 4)), rng.normal(0.5, 1.2, size=(60, 4))

    def fd(a, b):  # Heusel et al. 2017, with scipy's matrix square root
        s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        covmean = linalg.sqrtm(s1 @ s2).real
        return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))

    def kd(a, b):  # unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3 on the whole sets
        d = a.shape[1]
        kxx, kyy, kxy = (a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3
        m = len(a)
        return (
            (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean()
        )

    draws = [rng.normal(size=(60, 4)) for _ in range(11)]  # re-drawn floor sets
    b = compare(torch.tensor(ref), torch.tensor(flo), torch.tensor(gen), floor_draws=[torch.tensor(d) for d in draws])
    assert b["floor"]["FD"] == pytest.approx(fd(ref, flo), rel=1e-6)
    assert b["generated"]["FD"] == pytest.approx(fd(ref, gen), rel=1e-6)
    assert b["FD_ratio"] == pytest.approx(fd(ref, gen) / fd(ref, flo), rel=1e-6)
    assert b["floor"]["KD"] == pytest.approx(
        kd(ref, flo), rel=1e-6, abs=1e-9
    )  # subsets of the full size = the full sets
    want = np.percentile([fd(ref, d) for d in draws], [2.5, 97.5])
    np.testing.assert_allclose(b["floor"]["FD_ci95"], want, rtol=1e-6)
    lo, hi = b["generated"]["FD_ci95"]  # the generator's: percentile bootstrap
    assert lo < b["generated"]["FD"] * 1.5 and hi > b["generated"]["FD"] * 0.5 and b["n_floor"] == 60


def test_replay_ranks_first_under_both_extractors_and_pixel_mmd_within_3x_the_floor(pneumonia):
    """Replay = new real training images: it must rank first and sit within 3x the floor."""
    dcfg, ds, sets, _ = pneumonia
    replay = _replay(ds, sets)
    gens = {
        "replay": replay,
        "blurred": lambda labels, seed: _blur(replay(labels, seed)),
        "noise": lambda labels, seed: torch.rand(
            len(labels), 1, 28, 28, generator=torch.Generator().manual_seed(seed)
        ),
    }
    res = {k: _evaluate(pneumonia, g, bootstrap=0) for k, g in gens.items()}
    for ex in ("radgen-cnn001", "radgen-ae001"):
        fd = {k: m["features"][ex]["reference"]["generated"]["FD"] for k, m in res.items()}
        kd = {k: m["features"][ex]["reference"]["generated"]["KD"] for k, m in res.items()}
        assert fd["replay"] < fd["blurred"] < fd["noise"], (ex, fd)
        assert kd["replay"] < kd["blurred"] < kd["noise"], (ex, kd)
        assert res["replay"]["features"][ex]["reference"]["FD_ratio"] < 3.0, ex
    mmd = {k: m["pixels"]["mmd"]["generated"]["mmd2"] for k, m in res.items()}
    assert mmd["replay"] < mmd["blurred"] < mmd["noise"], mmd
    assert res["replay"]["label_fidelity"]["mean_generated"] > 0.7  # real images of the asked class


def test_memorization_flags_a_verbatim_copier(pneumonia):
    dcfg, ds, sets, _ = pneumonia
    train = sets.memorization_train

    def copier(labels, seed):
        return train.images[torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[: len(labels)]]

    m = _evaluate(pneumonia, copier, features=("radgen-cnn001",), bootstrap=0)
    assert m["memorization_pixels"]["fraction_flagged"] >= 0.9
    assert m["features"]["radgen-cnn001"]["memorization"]["fraction_flagged"] >= 0.9


def test_label_swapped_generator_has_no_fidelity_large_per_class_fd_small_pooled_fd(pneumonia):
    dcfg, ds, sets, _ = pneumonia
    m = _evaluate(pneumonia, _replay(ds, sets, swap=True), features=("radgen-cnn001",), bootstrap=0)
    lf = m["label_fidelity"]
    assert lf["mean_generated"] < 0.25 and lf["mean_real_heldout"] > 0.7
    e = m["features"]["radgen-cnn001"]
    per_class = {c: b["FD_ratio"] for c, b in e["per_class"].items()}
    assert min(per_class.values()) > 10, per_class
    assert e["reference"]["generated"]["FD"] < min(b["generated"]["FD"] for b in e["per_class"].values()) / 2


def test_rank_agreement_is_kendalls_tau_and_flags_disagreement():
    same = rank_agreement({"a": {"x": 1.0, "y": 2.0, "z": 3.0}, "b": {"x": 10.0, "y": 20.0, "z": 30.0}})
    assert same["agree"] and same["pairs"][0]["tau"] == pytest.approx(1.0)
    scores = {"a": {"x": 1.0, "y": 2.0, "z": 3.0}, "b": {"x": 20.0, "y": 10.0, "z": 30.0}}
    diff = rank_agreement(scores)
    want = kendalltau([1.0, 2.0, 3.0], [20.0, 10.0, 30.0]).statistic
    assert diff["agree"] is False and diff["pairs"][0]["tau"] == pytest.approx(want) and want == pytest.approx(1 / 3)
    assert diff["order"]["b"] == ["y", "x", "z"]
