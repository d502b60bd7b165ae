"""The sanity appendix: the sanity set's rows respect the floor set and the class counts, every view gets an
ensemble FD, floor, ratio and P(replay first), and a view that ranks a blurred replay above the replay is
marked (on synthetic textures where blurring truly brings the replay closer, and not where it does not)."""

from __future__ import annotations

import numpy as np
import torch

from radgen.data import DataConfig, load_dataset
from radgen.evaluation import build_sets
from radgen.evaluation.sanity import gaussian_blur, sanity_check, sanity_indices, sanity_sets
from radgen.metrics.features import get_extractor
from radgen.reports.sanity import sanity_markdown


def _textures(n, seed, blur):
    x = torch.rand(n, 1, 32, 32, generator=torch.Generator().manual_seed(seed))
    return gaussian_blur(x, blur) if blur else x


def test_gaussian_blur_keeps_constants_and_matches_a_hand_convolution():
    torch.testing.assert_close(gaussian_blur(torch.full((1, 2, 9, 9), 0.3)), torch.full((1, 2, 9, 9), 0.3))
    x = torch.rand(1, 1, 9, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    k1 = np.exp(-(np.arange(-3, 4) ** 2) / 2.0)
    k1 /= k1.sum()
    pad = np.pad(x[0, 0].numpy(), 3, mode="reflect")
    want = np.array([[(pad[r : r + 7, c : c + 7] * np.outer(k1, k1)).sum() for c in range(9)] for r in range(9)])
    np.testing.assert_allclose(gaussian_blur(x)[0, 0].numpy(), want, rtol=1e-12)


def test_a_view_that_prefers_blur_is_marked_and_one_that_does_not_is_not():
    ex = get_extractor("radiomics")
    ref, floor = _textures(150, 0, 1.0), _textures(150, 1, 1.0)
    honest = {"replay": _textures(150, 2, 1.0), "noise": torch.rand(150, 1, 32, 32)}
    honest["blurred replay"] = gaussian_blur(honest["replay"])
    res = sanity_check({"radiomics": [ex]}, ref, floor, honest, n_resamples=30, seed=0)
    v = res["views"]["radiomics"]
    assert v["blur_above_replay"] is False and v["rows"]["noise"]["p_replay_first"] > 0.99
    assert v["rows"]["replay"]["ratio"] < 5 and v["rows"]["noise"]["ratio"] > 20
    assert v["rows"]["blurred replay"]["p_replay_first"] > 0.95
    # a "replay" sharper than the reference (unblurred noise): its blurred copy is closer, so the mark is raised
    sharp = {"replay": _textures(150, 3, 0.0)}
    sharp["blurred replay"] = gaussian_blur(sharp["replay"])
    res2 = sanity_check({"radiomics": [ex]}, ref, floor, sharp, n_resamples=30, seed=0)
    v2 = res2["views"]["radiomics"]
    assert v2["blur_above_replay"] is True and v2["rows"]["blurred replay"]["p_replay_first"] < 0.05
    md = "\n".join(sanity_markdown(res) + sanity_markdown(res2))
    assert md.count("ranks the blurred replay above the replay") == 1
    assert "| radiomics: ` FD_radiomics `, 1 seed(s) | noise |" in md


def test_sanity_sets_on_real_data_avoid_the_floor_and_swap_the_classes(data_dir):
    ds = load_dataset(DataConfig(name="pneumoniamnist", val_from_train=0.1), progress=False)
    sets = build_sets(ds, n=200, seed=0)
    train = ds["train"]
    idx = sanity_indices(sets, train, seed=0)
    ref_counts = torch.bincount(sets.reference.labels, minlength=2)
    assert not np.intersect1d(idx["replay"], sets.floor_index).size
    assert not np.intersect1d(idx["label-swapped replay"], sets.floor_index).size
    torch.testing.assert_close(torch.bincount(train.labels[idx["replay"]], minlength=2), ref_counts)
    torch.testing.assert_close(
        torch.bincount(train.labels[idx["label-swapped replay"]], minlength=2), ref_counts.flip(0)
    )
    imgs = sanity_sets(sets, train, seed=0)
    assert list(imgs) == ["replay", "blurred replay", "noise", "label-swapped replay"]
    assert all(x.shape == sets.reference.images.shape for x in imgs.values())
    res = sanity_check({"radiomics": [get_extractor("radiomics")]}, sets.reference.images, sets.floor.images, imgs,
                       n_resamples=20)  # fmt: skip
    rows = res["views"]["radiomics"]["rows"]
    assert rows["noise"]["p_replay_first"] > 0.99 and rows["replay"]["ratio"] < rows["noise"]["ratio"]
    assert isinstance(res["views"]["radiomics"]["class_blind"], bool)


def test_rank_markdown_states_a_ranking_only_where_every_view_separates():
    from radgen.metrics.ranking import paired_resample_fd, pairwise_rank_probabilities
    from radgen.reports.sanity import rank_markdown

    rng = np.random.default_rng(0)
    real = rng.normal(size=(120, 4))
    gens = {"replay": rng.normal(size=(120, 4)), "noise": rng.normal(1, 2, size=(120, 4))}
    gens["replay2"] = gens["replay"].copy()
    fds = {"v1": paired_resample_fd(real, gens, n_resamples=60, seed=0)}
    fds["v2"] = paired_resample_fd(real * 3, {k: g * 3 for k, g in gens.items()}, n_resamples=60, seed=1)
    pairs = pairwise_rank_probabilities(fds, ["replay", "noise", "replay2"])
    md = "\n".join(rank_markdown(pairs))
    assert "| replay | noise | 1.000 | 1.000 | replay before noise (p=1.000" in md
    assert "| noise | replay2 |" in md and "replay2 before noise" in md
    row = next(line for line in md.splitlines() if line.startswith("| replay | replay2 |"))
    assert "not separated" in row  # the same images twice
    assert "paired bootstrap: 60 resamples" in md
