"""``radgen data inspect``: counts per split and class, imbalance, sizes and modes, bad files."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from radgen.data.base import DataSplits
from radgen.data.load import DataConfig, load_dataset, make_source


def _stats(values: np.ndarray) -> dict[str, float]:
    v = values.astype(np.float64)
    return {"min": float(v.min()), "median": float(np.median(v)), "max": float(v.max())}


def imbalance_ratio(counts: dict[str, int]) -> float | None:
    """Majority count / minority count (None when a class is empty or there is one class)."""
    vals = list(counts.values())
    if len(vals) < 2 or min(vals) == 0:
        return None
    return round(max(vals) / min(vals), 3)


def summarize(ds: DataSplits) -> dict[str, Any]:
    """Counts per split and class, patients, image sizes and storage of a loaded dataset, as a dict."""
    splits: dict[str, Any] = {}
    total: Counter[str] = Counter()
    sizes_w, sizes_h, modes = [], [], Counter()
    n_total = 0
    for name, s in ds.items():
        counts = s.class_counts()
        patients = {p for p in s.patients if p}
        splits[name] = {
            "images": len(s),
            "classes": counts,
            "patients": len(patients) if patients else None,
            "imbalance_ratio": imbalance_ratio(counts) if s.task == "multiclass" else None,
        }
        if name != "val_official":
            total.update(counts)
            n_total += len(s)
        if "orig_width" in s.meta:
            sizes_w.append(s.meta["orig_width"].astype(np.int64))
            sizes_h.append(s.meta["orig_height"].astype(np.int64))
        if "mode" in s.meta:
            modes.update(str(m) for m in s.meta["mode"])
    first = next(iter(ds.values()))
    out: dict[str, Any] = {
        "dataset": ds.name,
        "path": ds.path,
        "task": first.task,
        "class_names": list(first.class_names),
        "splits": splits,
        "total": {
            "images": n_total,
            "classes": dict(total),
            "imbalance_ratio": imbalance_ratio(dict(total)) if first.task == "multiclass" else None,
        },
        "stored": {
            "height": first.image_size[0],
            "width": first.image_size[1],
            "channels": first.channels,
            "dtype": str(first.pixels.dtype).replace("torch.", ""),
            "storage": ds.info.get("storage", first.storage),  # in memory, or memory-mapped from the cache
        },
        "bad_files": {"count": len(ds.bad_files), "examples": [f"{p}: {why}" for p, why in ds.bad_files[:10]]},
        "notes": ds.notes,
        "from_cache": ds.from_cache,
    }
    if sizes_w:
        out["original_size"] = {"width": _stats(np.concatenate(sizes_w)), "height": _stats(np.concatenate(sizes_h))}
    if modes:
        out["original_modes"] = dict(modes.most_common())
    return out


def inspect_dataset(cfg: DataConfig, *, progress: bool = True) -> tuple[dict[str, Any], DataSplits | None]:
    """Summary dict (and the loaded splits, or None when the source has only labels)."""
    source = make_source(cfg)
    extra = source.describe() if source.path.exists() else {}
    if not source.pixels_available():
        summary = {"dataset": cfg.name, "path": str(source.path), "pixels": "none (labels only)", "source": extra}
        return summary, None
    ds = load_dataset(cfg, progress=progress, check_empty=False)  # inspect shows empty classes, never refuses
    summary = summarize(ds)
    if extra:
        summary["source"] = extra
    return summary, ds


def format_summary(s: dict[str, Any]) -> str:
    """``summarize``'s dict as the aligned text ``radgen data inspect`` prints."""
    lines = [f"dataset   {s['dataset']}", f"path      {s['path']}"]
    if "splits" not in s:
        lines.append(f"pixels    {s.get('pixels')}")
    else:
        st = s["stored"]
        lines.append(
            f"images    {st['height']}x{st['width']} px, {st['channels']} channel(s), stored as "
            f"{st['dtype']} ({st.get('storage', 'memory')}); task {s['task']}"
        )
        names = s["class_names"]
        width = max(8, *(len(n) for n in names))
        header = (
            f"{'split':<13}{'images':>8} {'patients':>9}  " + "  ".join(f"{n:>{width}}" for n in names) + "  imbalance"
        )
        lines += ["", header, "-" * len(header)]
        rows = list(s["splits"].items()) + [("total", {**s["total"], "patients": None})]
        for name, sp in rows:
            pats = "" if sp.get("patients") is None else str(sp["patients"])
            ratio = "" if sp.get("imbalance_ratio") is None else f"{sp['imbalance_ratio']:.2f}:1"
            lines.append(
                f"{name:<13}{sp['images']:>8} {pats:>9}  "
                + "  ".join(f"{sp['classes'].get(n, 0):>{width}}" for n in names)
                + f"  {ratio}"
            )
        if "original_size" in s:
            w, h = s["original_size"]["width"], s["original_size"]["height"]
            lines.append("")
            lines.append(f"original width  min {w['min']:.0f} / median {w['median']:.0f} / max {w['max']:.0f} px")
            lines.append(f"original height min {h['min']:.0f} / median {h['median']:.0f} / max {h['max']:.0f} px")
        if "original_modes" in s:
            lines.append("original modes  " + ", ".join(f"{m}: {c}" for m, c in s["original_modes"].items()))
        bad = s["bad_files"]
        lines.append(f"bad files       {bad['count']}" + ("" if not bad["count"] else " (skipped)"))
        lines += [f"  {e}" for e in bad["examples"]]
    src = s.get("source", {})
    if "frequency" in src:
        lines += [
            "",
            f"CSV {src['csv']}: {src['rows']} images, {src['patients']} patients, {src['conditions']} conditions",
        ]
        lines.append(
            f"images found {src['images_found']}, missing {src['images_missing']} (folder: "
            f"{src['images_folder'] or 'none'})"
        )
        lines.append(f"{'condition':<22}{'images':>8}{'%':>8}")
        lines += [f"{r['condition']:<22}{r['images']:>8}{r['percent']:>8.2f}" for r in src["frequency"]]
        lines.append("labels per image: " + ", ".join(f"{k}: {v}" for k, v in src["labels_per_image"].items()))
    elif src:
        lines.append("source    " + ", ".join(f"{k}={v}" for k, v in src.items()))
    for note in s.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)
