"""The copy audit's figures on the red team's cases (issue 33): generators that return training images exactly,
flipped, shifted 1-4 px, re-exposed or cropped, half copies, and real images the generator never saw; each audited
against the whole training split, calibrated on (at most 2,000 evenly spaced images of) the validation split at
1 % false positives, for three draws of the copied images (seeds 0-2: the seed picks the images, not the verdict).
Writes ``table.md`` and ``results.json`` beside this file.

    OMP_NUM_THREADS=2 flock /tmp/radgen-cpu.lock .venv/bin/python docs/results/copy_audit/run.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from radgen.data import load_dataset
from radgen.metrics.copy_audit import DUPLICATE_SCORE, conformal_threshold, copy_scores, refusal_count

HERE = Path(__file__).parent
N = 300


def shifted(x, dy, dx):
    s = max(abs(dy), abs(dx))
    p = F.pad(x, (s, s, s, s), mode="replicate")
    h = x.shape[-1]
    return p[..., s - dy : s - dy + h, s - dx : s - dx + h]


def cropped(x, c):
    h = x.shape[-1]
    return F.interpolate(x[..., c : h - c, c : h - c], size=(h, h), mode="bilinear", align_corners=False)


def cases(train, unseen, seed):
    g = torch.Generator().manual_seed(seed)
    src = train[torch.randperm(len(train), generator=g)[:N]]
    half = torch.cat([src[: N // 2], unseen[torch.randperm(len(unseen), generator=g)[: N - N // 2]]])
    return {
        "exact copies": src,
        "flipped": src.flip(-1),
        "shifted 1 px": shifted(src, 1, -1),
        "shifted 2 px": shifted(src, 2, 0),
        "shifted 3 px": shifted(src, -3, 2),
        "shifted 4 px": shifted(src, 4, 4),
        "brightness +0.15, contrast x0.8": (0.8 * src + 0.15).clamp(0, 1),
        "crop 1 px a side, resized back": cropped(src, 1),
        "crop 2 px a side, resized back": cropped(src, 2),
        "50 % exact copies, 50 % unseen": half,
        "unseen real images (test split)": unseen[torch.randperm(len(unseen), generator=g)[:N]],
    }


def main() -> None:
    torch.set_num_threads(2)
    rows = []
    for name, opts in (("pneumoniamnist", {}), ("mnist", {"val_from_train": 0.1})):
        ds = load_dataset(name, progress=False, **opts)
        train, val, test = ds["train"].images, ds["val"].images, ds["test"].images
        val = val[torch.linspace(0, len(val) - 1, min(len(val), 2000)).round().long()]  # evenly spaced, no seed
        cache: dict = {}
        t0 = time.perf_counter()
        held = copy_scores(val, train, _train_cache=cache)["score"]  # calibrated once: copy_audit's steps, shared
        dup = held >= DUPLICATE_SCORE
        threshold = conformal_threshold(held[~dup], 0.01)
        print(name, f"calibration {time.perf_counter() - t0:.0f} s", flush=True)
        for seed in range(3):
            t0 = time.perf_counter()
            for case, gen in cases(train, test, seed).items():
                s = copy_scores(gen, train, _train_cache=cache)["score"]
                flagged = int((s > threshold).sum())
                rows.append(
                    {
                        "dataset": name,
                        "n_train": len(train),
                        "n_heldout": len(val),
                        "seed": seed,
                        "case": case,
                        "flagged": flagged / len(gen),
                        "refused": flagged > refusal_count(len(gen), 0.01),
                        "threshold": threshold,
                        "heldout_duplicates": int(dup.sum()),
                    }
                )
            print(name, seed, f"{time.perf_counter() - t0:.0f} s", flush=True)
    (HERE / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = ["| dataset (training images) | case | flagged, seeds 0 / 1 / 2 | refused |", "|---|---|---|---|"]
    keys = list(dict.fromkeys((r["dataset"], r["case"]) for r in rows))
    for d, c in keys:
        rs = [r for r in rows if r["dataset"] == d and r["case"] == c]
        rates = " / ".join(f"{r['flagged']:.1%}" for r in rs)
        lines.append(
            f"| {d} ({rs[0]['n_train']:,}) | {c} | {rates} | "
            f"{', '.join('yes' if r['refused'] else 'no' for r in rs)} |"
        )
    (HERE / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
