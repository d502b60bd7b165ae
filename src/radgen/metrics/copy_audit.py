"""The copy audit: is a generated image a (flipped, shifted, cropped, re-exposed) copy of a training image?

Score. For a generated image g and a training image t, both are made grey (channel mean), brought to a working
side W = min(S, ``WORK_SIDE``) px (area resampling), high-passed (the image minus its Gaussian blur,
sigma = W / 16: the anatomy every chest film shares is removed, the detail that identifies one film kept) and
compared by normalised cross-correlation (NCC: zero mean, unit norm, dot product). Because of the normalisation
the score is invariant to brightness and contrast (any affine change of intensity), and it is maximised over

- horizontal flips of g (g and its mirror image),
- shifts of g by up to ``MAX_SHIFT`` px (at the image's own size; scaled to the working side) in each direction:
  t's central (W - 2s) crop is matched against every (W - 2s) window of g, so no padding enters the score,
- small crops resized back: t is also compared as z_c(t), its central (S - 2c) px resized back to S px (bilinear),
  for c = 1 .. ``MAX_CROP`` px a side at the image's own size (a zoom of S / (S - 2c)); a crop off one side only
  is a smaller zoom plus a shift, which the shifts cover.

    s(g) = max over t in T, crop c, flip f, shift (dy, dx) of NCC(hp(f(g))[window dy, dx], hp(z_c(t))[centre])

Search. Every training image is visited, by chunked matrix products (no sampling, no approximate index, no seed):

1. Coarse: windows and centre crops are area-pooled to side ``COARSE_SIDE`` and normalised; every variant of g
   (2 flips x shifts on a grid of step ~half a coarse pixel) is multiplied against every training image, chunk by
   chunk; the ``CANDIDATES`` training images with the highest coarse score are kept for each g (an exhaustive
   nearest-neighbour search in that space).
2. Fine: s(g) is computed exactly, at the working side with every integer shift, both flips and every crop,
   against those candidates.

Calibration. The same score is computed for real held-out images the generator never saw (a validation or test
split: as novel as a perfect generator's samples). The flag threshold is their conformal quantile at the nominal
false-positive rate alpha (Vovk et al. 2005; Angelopoulos & Bates 2021): the ceil((n + 1)(1 - alpha))-th smallest
held-out score, so that another image exchangeable with them is flagged with probability at most alpha (and at
least alpha - 1/(n + 1)). Held-out images that score at least ``DUPLICATE_SCORE`` are the same film as a training
image (a split that leaks): they are not novel, so they are counted, reported and left out of the calibration.
A generator of novel images is then flagged at about alpha; ``refusal_count`` says how many flags are more than
chance allows (the binomial upper quantile).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from radgen.errors import ConfigError, DataError

MAX_SHIFT = 4  # px at the image's own size
MAX_CROP = 2  # px a side at the image's own size: crops of 1 .. MAX_CROP px resized back are matched too
WORK_SIDE = 64  # px: larger images are area-resampled to this side first
COARSE_SIDE = 16  # px of the coarse search's windows (at most; half the crop side for small images)
CANDIDATES = 32  # training images re-scored exactly per generated image
DUPLICATE_SCORE = 0.99  # a held-out image this close to a training image is a duplicate (excluded from calibration)
NOMINAL_FPR = 0.01  # default alpha: held-out real images flagged at this rate
REFUSE_CONFIDENCE = 0.999  # a release is refused when the flags exceed Binomial(n, alpha)'s 99.9 % quantile
QUERY_CHUNK = 64  # generated images per block of the coarse search
TRAIN_CHUNK = 8192  # training images per block of the coarse search


@dataclass(frozen=True)
class Geometry:
    """How images of side ``size`` are compared (derived from the size alone: the same for every set)."""

    size: int
    work: int  # working side
    shift: int  # max shift in working px
    crop: int  # side of the centre crop / windows
    coarse: int  # coarse side
    coarse_step: int  # shift step of the coarse variants (working px)
    sigma: float  # high-pass blur sigma (working px)

    @staticmethod
    def for_size(size: int, *, max_shift: int = MAX_SHIFT) -> Geometry:
        work = min(size, WORK_SIDE)
        shift = math.ceil(max_shift * work / size)
        crop = work - 2 * shift
        if crop < 4:
            raise ConfigError(f"images of {size} px are too small for the copy audit's {max_shift} px shifts")
        coarse = min(COARSE_SIDE, crop // 2)
        step = max(1, round(crop / coarse / 2))
        return Geometry(size, work, shift, crop, coarse, step, max(1.0, work / 16))

    def describe(self) -> dict[str, Any]:
        return {
            "working_side_px": self.work,
            "max_shift_px_at_working_side": self.shift,
            "centre_crop_px": self.crop,
            "coarse_side_px": self.coarse,
            "high_pass_sigma_px": self.sigma,
        }


@functools.lru_cache(maxsize=8)
def _blur_matrix(side: int, sigma: float) -> torch.Tensor:
    """(side, side) B with x @ B the 1-D Gaussian blur of x's rows (reflect padding): the blur as a matrix product,
    far faster on a CPU than a one-channel convolution."""
    r = min(max(1, int(math.ceil(3 * sigma))), side - 1)
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float64) / sigma) ** 2)
    eye = F.pad(torch.eye(side, dtype=torch.float64)[:, None, :], (r, r), mode="reflect")  # (side, 1, side + 2r)
    return F.conv1d(eye, (k / k.sum()).view(1, 1, -1))[:, 0, :].float()  # row i: the blur of e_i


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(N, 1, H, H) separable Gaussian blur, reflect padding: B^T x B."""
    b = _blur_matrix(x.shape[-1], sigma).to(x.device)
    return b.T @ x @ b


def prepare(images: torch.Tensor, geo: Geometry, *, device: torch.device | str = "cpu") -> torch.Tensor:
    """(N, C, S, S) in [0, 1] -> (N, 1, W, W) grey, working side, high-passed (float32)."""
    if images.dim() != 4 or images.shape[-1] != geo.size or images.shape[-2] != geo.size:
        raise DataError(f"the copy audit compares square images of {geo.size} px; got shape {tuple(images.shape)}")
    x = images.to(device=device, dtype=torch.float32).mean(1, keepdim=True)
    if geo.work != geo.size:
        x = F.interpolate(x, size=(geo.work, geo.work), mode="area")
    return x - _gaussian_blur(x, geo.sigma)


def _unit(v: torch.Tensor) -> torch.Tensor:
    """Rows zero-mean, unit-norm (NCC = dot product); a constant row stays 0."""
    v = v - v.mean(-1, keepdim=True)
    return v / v.norm(dim=-1, keepdim=True).clamp(min=1e-8)


def _centre(x: torch.Tensor, geo: Geometry) -> torch.Tensor:
    s = geo.shift
    return x[..., s : s + geo.crop, s : s + geo.crop]


def _offsets(geo: Geometry, step: int) -> list[int]:
    offs = list(range(-geo.shift, geo.shift + 1, step))
    if offs[-1] != geo.shift:
        offs.append(geo.shift)
    return offs


def _windows(x: torch.Tensor, geo: Geometry, step: int) -> torch.Tensor:
    """(N, 1, W, W) -> (N, V, 1, crop, crop): both flips x every shift on the grid of ``step`` (dy outer, dx inner)."""
    offs = _offsets(geo, step)
    if (2 * geo.shift) % step == 0:  # a regular grid: one unfold per flip
        n, c = len(offs), geo.crop
        parts = [F.unfold(img, c, stride=step) for img in (x, x.flip(-1))]  # (N, c*c, n*n) each
        return torch.cat(parts, 2).transpose(1, 2).reshape(x.shape[0], 2 * n * n, 1, c, c)
    out = []
    for img in (x, x.flip(-1)):
        for dy in offs:
            for dx in offs:
                y0, x0 = geo.shift + dy, geo.shift + dx
                out.append(img[..., y0 : y0 + geo.crop, x0 : x0 + geo.crop])
    return torch.stack(out, 1)


def zoomed(images: torch.Tensor, crop: int) -> torch.Tensor:
    """(N, C, S, S) -> the central (S - 2 crop) px of each image resized back to S px (bilinear; crop 0: as is)."""
    if crop <= 0:
        return images
    s = images.shape[-1]
    x = images[..., crop : s - crop, crop : s - crop].float()
    return F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)


def _coarse(v: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """(..., 1, crop, crop) -> (..., coarse^2) unit rows."""
    lead = v.shape[:-3]
    p = F.adaptive_avg_pool2d(v.reshape(-1, 1, geo.crop, geo.crop), geo.coarse)
    return _unit(p.reshape(*lead, -1))


def coarse_reference(train_prepared: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """(M, 1, W, W) prepared training images -> (M, coarse^2) unit rows of their centre crops."""
    return _coarse(_centre(train_prepared, geo), geo)


def _first_unique(idx: torch.Tensor, k: int) -> torch.Tensor:
    """(b, L) rows of indices, best first -> (b, k): each row's first k distinct indices, in order."""
    out = []
    for row in idx.tolist():
        seen = list(dict.fromkeys(row))[:k]
        out.append(seen + seen[-1:] * (k - len(seen)))  # fewer than k distinct (tiny sets): repeat the last
    return torch.as_tensor(out, dtype=torch.long, device=idx.device)


@torch.no_grad()
def copy_scores(
    queries: torch.Tensor,
    train: torch.Tensor,
    *,
    candidates: int = CANDIDATES,
    max_shift: int = MAX_SHIFT,
    max_crop: int = MAX_CROP,
    device: torch.device | str = "cpu",
    _train_cache: dict | None = None,
) -> dict[str, torch.Tensor]:
    """s(g) for every query against every training image (module docstring).

    Returns ``score`` (N,), ``index`` (N,) of the best-matching training image, ``flipped`` (N,) bool,
    ``shift`` (N, 2) (dy, dx at the working side) and ``crop`` (N,) (px a side) of the best match."""
    if max_crop < 0:
        raise ConfigError(f"copy audit max_crop={max_crop} px must be >= 0 (0: no crops)")
    geo = Geometry.for_size(int(queries.shape[-1]), max_shift=max_shift)
    if train.shape[-1] != queries.shape[-1]:
        raise DataError(f"generated images are {queries.shape[-1]} px but training images {train.shape[-1]} px")
    n, m = len(queries), len(train)
    if m == 0:
        raise DataError("the copy audit needs at least one training image")
    k = min(candidates, m)
    cache = _train_cache if _train_cache is not None else {}
    crops = list(range(min(max_crop, geo.size // 8) + 1))  # at most an eighth of the side a side
    coarse_crops = crops[::2]  # the coarse search sees every other crop; the one between is within its reach
    if cache.get("coarse_crops") != coarse_crops:  # the training side, prepared once (chunked: 112,000 stay small)
        parts = range(0, m, TRAIN_CHUNK)
        cache["coarse"] = torch.cat(  # (Z * M, D), crop-major: row z * M + j is training image j cropped
            [
                coarse_reference(prepare(zoomed(train[i : i + TRAIN_CHUNK], c), geo, device=device), geo)
                for c in coarse_crops
                for i in parts
            ]
        )
        cache["coarse_crops"] = coarse_crops
    ref = cache["coarse"]
    rows = len(ref)
    score = torch.empty(n)
    index = torch.empty(n, dtype=torch.long)
    flipped = torch.empty(n, dtype=torch.bool)
    shift = torch.empty(n, 2, dtype=torch.long)
    crop = torch.empty(n, dtype=torch.long)
    offs_fine = _offsets(geo, 1)
    n_off = len(offs_fine)
    for q0 in range(0, n, QUERY_CHUNK):
        q = prepare(queries[q0 : q0 + QUERY_CHUNK], geo, device=device)  # (b, 1, W, W)
        b = len(q)
        # 1. coarse: best variant score against every training image, top-k kept
        cq = _coarse(_windows(q, geo, geo.coarse_step), geo)  # (b, V, D)
        v = cq.shape[1]
        best_val = torch.full((b, 0), -2.0, device=device)
        best_idx = torch.zeros((b, 0), dtype=torch.long, device=device)
        flat = cq.reshape(b * v, -1)
        for t0 in range(0, rows, TRAIN_CHUNK):
            s = (flat @ ref[t0 : t0 + TRAIN_CHUNK].T).reshape(b, v, -1).amax(1)  # (b, chunk)
            img = torch.arange(t0, t0 + s.shape[1], device=device) % m  # the training image of each row
            vals = torch.cat([best_val, s], 1)
            idx = torch.cat([best_idx, img.expand(b, -1)], 1)
            top = vals.topk(min(k * len(coarse_crops), vals.shape[1]), dim=1, sorted=True)
            best_val, best_idx = top.values, idx.gather(1, top.indices)
        best_idx = _first_unique(best_idx, k)  # an image kept under two crops counts once
        # 2. fine: every integer shift and both flips, at the working side, against the candidates
        wq = _unit(_windows(q, geo, 1).flatten(2))  # (b, 2 * n_off^2, crop^2)
        flat_idx = best_idx.reshape(-1).cpu()
        raw = train[flat_idx]
        cand = torch.stack(  # (b * k, crops, crop^2): each candidate as is and cropped-and-resized
            [_unit(_centre(prepare(zoomed(raw, c), geo, device=device), geo).flatten(1)) for c in crops], 1
        )
        cand = cand.reshape(b, best_idx.shape[1] * len(crops), -1)  # (b, k * crops, crop^2), candidate-major
        fine = torch.bmm(wq, cand.transpose(1, 2))  # (b, variants, k * crops)
        val, arg = fine.flatten(1).max(1)
        var, cj = arg // fine.shape[2], arg % fine.shape[2]
        sl = slice(q0, q0 + b)
        score[sl] = val.cpu()
        crop[sl] = (cj % len(crops)).cpu()
        cj = cj // len(crops)
        index[sl] = best_idx.gather(1, cj[:, None]).squeeze(1).cpu()
        flipped[sl] = (var >= n_off * n_off).cpu()
        within = var % (n_off * n_off)
        shift[sl, 0] = torch.as_tensor([offs_fine[int(i)] for i in within // n_off])
        shift[sl, 1] = torch.as_tensor([offs_fine[int(i)] for i in within % n_off])
    return {"score": score, "index": index, "flipped": flipped, "shift": shift, "crop": crop, "geometry": geo}


def conformal_threshold(calibration: torch.Tensor, alpha: float) -> float:
    """The ceil((n + 1)(1 - alpha))-th smallest calibration score: P(new score > threshold) <= alpha."""
    n = len(calibration)
    if not 0 < alpha < 1:
        raise ConfigError(f"the copy audit's false-positive rate {alpha} must be in (0, 1), e.g. 0.01")
    rank = math.ceil((n + 1) * (1 - alpha))
    if rank > n:
        raise DataError(
            f"{n} held-out images cannot calibrate a {alpha:.2%} false-positive rate: at least "
            f"{math.ceil(1 / alpha) - 1} are needed (pass a larger validation split or a larger rate)"
        )
    return float(calibration.double().sort().values[rank - 1])


def refusal_count(n: int, alpha: float, confidence: float = REFUSE_CONFIDENCE) -> int:
    """The largest number of flags among n images that a generator of novel images exceeds with probability
    below 1 - ``confidence``: Binomial(n, alpha)'s ``confidence`` quantile. More flags than this: copying."""
    from scipy.stats import binom

    return int(binom.ppf(confidence, n, alpha))


def copy_audit(
    generated: torch.Tensor,
    train: torch.Tensor,
    heldout: torch.Tensor,
    *,
    alpha: float = NOMINAL_FPR,
    candidates: int = CANDIDATES,
    device: torch.device | str = "cpu",
    heldout_split: str = "val",
) -> dict[str, Any]:
    """Scores of ``generated`` against every image of ``train``, flagged above the threshold that flags real
    ``heldout`` images at rate ``alpha``. Deterministic: no seed enters any step."""
    cache: dict = {}
    held = copy_scores(heldout, train, candidates=candidates, device=device, _train_cache=cache)["score"]
    duplicates = held >= DUPLICATE_SCORE
    threshold = conformal_threshold(held[~duplicates], alpha)
    res = copy_scores(generated, train, candidates=candidates, device=device, _train_cache=cache)
    flags = res["score"] > threshold
    n_flag, limit = int(flags.sum()), refusal_count(len(generated), alpha)
    return {
        "criterion": (
            "max normalised cross-correlation of the high-passed image with any training image over horizontal "
            f"flips, shifts up to {MAX_SHIFT} px and crops of up to {MAX_CROP} px a side resized back "
            "(brightness/contrast-invariant), above the threshold that flags "
            f"{alpha:.1%} of real held-out images (conformal quantile)"
        ),
        "nominal_false_positive_rate": alpha,
        "threshold": threshold,
        "n_generated": len(generated),
        "n_train_searched": len(train),
        "n_heldout": len(heldout),
        "heldout_split": heldout_split,
        "heldout_duplicates_of_train": int(duplicates.sum()),
        "heldout_duplicates_rule": f"held-out images scoring >= {DUPLICATE_SCORE} duplicate a training image; "
        "they are left out of the calibration",
        "n_flagged": n_flag,
        "fraction_flagged": n_flag / max(1, len(generated)),
        "refuse_above_count": limit,
        "refuse_above_fraction": limit / max(1, len(generated)),
        "refuse_rule": (
            f"more flags than Binomial(n, {alpha}) exceeds with probability {1 - REFUSE_CONFIDENCE:.1%} "
            "(what a generator of novel images would show)"
        ),
        "copying": n_flag > limit,
        "score_median": float(res["score"].median()),
        "search": {
            "method": "exhaustive chunked matrix products over every training image (coarse), exact NCC over every "
            f"shift, flip and crop against the {candidates} best candidates (fine); no seed",
            "max_crop_px": MAX_CROP,
            **res["geometry"].describe(),
        },
        "flagged_examples": [
            {
                "generated": int(i),
                "train_index": int(res["index"][i]),
                "score": float(res["score"][i]),
                "flipped": bool(res["flipped"][i]),
                "shift_px": [int(v) for v in res["shift"][i]],
                "crop_px": int(res["crop"][i]),
            }
            for i in torch.argsort(res["score"], descending=True)[: min(8, n_flag)]
        ],
        "_scores": res["score"],
    }
