"""The sanity appendix rendered: every view's FD of the protocol's sanity set, and which views to trust for what.

Renders the dict of ``radgen.evaluation.sanity.sanity_check`` (issue 34, deliverable 5) as Markdown lines: one
table row per view and sanity generator (ensemble mean FD, its two-level interval, the floor, the ratio,
P(FD_replay < FD_x)), then one line per view that ranks the blurred replay above the replay (not to be trusted
for sharpness) or does not separate the label-swapped replay from the replay (blind to class content).
"""

from __future__ import annotations

from typing import Any

from radgen.reports.markdown import code, text


def _num(v: float) -> str:
    return f"{v:.3g}"


def sanity_markdown(result: dict[str, Any], title: str = "Appendix: what each view measures") -> list[str]:
    """Markdown lines for ``sanity_check``'s result."""
    lines = [
        f"## {text(title)}",
        "",
        "Generators whose answer is known, under every view: a replay of real training images (should sit at "
        "the floor), the replay blurred (sigma 1 px), uniform noise, and the replay with each class's images "
        f"taken from the next class. FD: mean over the view's extractor seeds, interval: two-level bootstrap "
        f"({result['n_resamples']} replicates); P: P(FD_replay < FD_x) over paired resamples and seeds.",
        "",
        "| view | generator | FD | interval | floor | ratio | P(replay first) |",
        "|---|---|---|---|---|---|---|",
    ]
    for view, entry in result["views"].items():
        for name, row in entry["rows"].items():
            g, f = row["generated"], row["floor"]
            lo, hi = g["FD_interval"]
            p = row.get("p_replay_first")
            lines.append(
                f"| {text(view)}: {code(entry['distance_name'])}, {len(entry['extractors'])} seed(s) | {text(name)} | "
                f"{_num(g['FD'])} | [{_num(lo)}, {_num(hi)}] | {_num(f['FD'])} | {_num(row['ratio'])} | "
                f"{'-' if p is None else f'{p:.3f}'} |"
            )
    lines.append("")
    marks = []
    for view, entry in result["views"].items():
        rows = entry["rows"]
        if entry.get("blur_above_replay"):
            marks.append(
                f"- **{text(view)} ranks the blurred replay above the replay** (FD "
                f"{_num(rows['blurred replay']['generated']['FD'])} against {_num(rows['replay']['generated']['FD'])}"
                "): do not trust it for sharpness."
            )
        if entry.get("class_blind"):
            marks.append(
                f"- **{text(view)} does not separate the label-swapped replay from the replay** (P = "
                f"{rows['label-swapped replay']['p_replay_first']:.3f} < 0.95): its pooled FD is blind to class "
                "content; read its per-class FD or the label fidelity."
            )
    lines += marks or ["Every view ranks the replay above its blurred copy and separates the label-swapped replay."]
    return lines + [""]


def rank_markdown(pairs: dict[tuple[str, str], dict[str, Any]], title: str = "Rank probabilities") -> list[str]:
    """Markdown lines for ``radgen.metrics.ranking.pairwise_rank_probabilities``: one row per pair of generators,
    P(FD_A < FD_B) under each view, and ``ranking_statement``'s sentence (a ranking only where P >= 0.95 under
    every view)."""
    from radgen.metrics.ranking import ranking_statement

    if not pairs:
        return []
    views = list(next(iter(pairs.values())))
    first = next(iter(next(iter(pairs.values())).values()))
    lines = [
        f"## {text(title)}",
        "",
        f"P(FD_A < FD_B): {text(first.method)}. A ranking is stated only where P >= 0.95 under every view.",
        "",
        "| A | B | " + " | ".join(f"P under {text(v)}" for v in views) + " | statement |",
        "|---|---|" + "---|" * len(views) + "---|",
    ]
    for (a, b), by_view in pairs.items():
        cells = " | ".join(f"{by_view[v].p:.3f}" for v in views)
        lines.append(f"| {text(a)} | {text(b)} | {cells} | {text(ranking_statement(a, b, by_view))} |")
    return lines + [""]
