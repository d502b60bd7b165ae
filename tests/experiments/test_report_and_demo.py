"""Reports (Markdown -> self-contained HTML) and `radgen demo --quick` end to end."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from radgen.cli import main
from radgen.errors import MissingDataError
from radgen.experiments.trial import ENDPOINTS, VERDICTS
from radgen.reports import collect
from radgen.reports.markdown import markdown_to_html
from radgen.viz import save_grid

SECTIONS = (
    "## Data",
    "## Generators",
    "## Sample quality",
    "### Memorization",
    "## Does synthetic data help the classifier?",
    "## Configs",
    "## Versions and machine",
)


def test_markdown_to_html_embeds_images_and_escapes(tmp_path):
    save_grid(torch.rand(4, 1, 8, 8), tmp_path / "g.png")
    md = (
        "# T\n\nsome `x<y` and **bold**\n\n| a | b |\n|---|---|\n| 1 | <2> "
        "|\n\n![grid](g.png)\n\n```yaml\nk: <v>\n```\n\n- item\n"
    )
    html = markdown_to_html(md, base=tmp_path)
    assert "<h1>T</h1>" in html and "<code>x&lt;y</code>" in html and "<strong>bold</strong>" in html
    assert "<th>a</th>" in html and "<td>&lt;2&gt;</td>" in html and "---" not in html
    src = re.search(r'<img src="data:image/png;base64,([^"]+)"', html).group(1)
    assert base64.b64decode(src) == (tmp_path / "g.png").read_bytes()
    assert '<pre><code class="language-yaml">k: &lt;v&gt;\n</code></pre>' in html and "<li>item</li>" in html


def test_collect_refuses_an_unknown_directory(tmp_path):
    with pytest.raises(MissingDataError, match="not a radgen"):
        collect([tmp_path])


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory, data_dir):  # data_dir: skipped where the kit is absent
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--quick", "--no-progress", "--output-dir", str(out)]) == 0
    (demo,) = out.glob("demo-quick-*")
    return demo


def test_demo_quick_writes_a_self_contained_report_with_every_section(quick_demo):
    html = (quick_demo / "report.html").read_text()
    md = (quick_demo / "report.md").read_text()
    for section in SECTIONS:
        assert section in md, section
        assert section.lstrip("# ") in html, section
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    # data, 3 x (curves + class grid), cvae reconstructions, 3 memorization figures, bars, 3 pools
    assert len(images) >= 15 and all((quick_demo / p).is_file() for p in images)
    assert html.count('<img src="data:image/png;base64,') == len(images)
    assert '<img src="' + images[0] not in html  # nothing links outside the file
    for arm in ("real", "+cvae", "+lsgan", "+ldm", "duplicate", "weighted"):  # DEMO_ARMS
        assert f"| {arm} |" in md, arm


def test_demo_quick_results_respect_the_protocol(quick_demo):
    demo = json.loads((quick_demo / "demo.json").read_text())
    assert set(demo["generators"]) == {"cvae", "lsgan", "ldm"} and demo["settings"]["quick"]
    res = json.loads((quick_demo / "augment" / "results.json").read_text())
    assert res["val_patients_in_train"] == 0  # patient-level validation split
    arms = res["arms"]
    assert res["seeds"] in (2, 3) and all(len(a["seeds"]) == res["seeds"] for a in arms.values())  # looks at 2, 3
    n0, n1 = res["splits"]["train"]["NORMAL"], res["splits"]["train"]["PNEUMONIA"]
    assert (
        arms["+ldm"]["train_counts"] == {"NORMAL": n1, "PNEUMONIA": n1}
        and arms["+ldm"]["synthetic_in_train"] == n1 - n0
    )
    assert arms["real"]["synthetic_in_train"] == 0
    assert arms["duplicate"]["train_counts"] == arms["+ldm"]["train_counts"]  # count-matched, real pixels only
    assert arms["duplicate"]["synthetic_in_train"] == 0
    assert set(arms) == {"real", "+cvae", "+lsgan", "+ldm", "duplicate", "weighted"}
    assert all(a["verdict"] in VERDICTS for n, a in arms.items() if n not in ("real",) and "verdict" in a)
    rows = [json.loads(x) for x in (quick_demo / "augment" / "results.jsonl").read_text().splitlines()]
    assert not any(r["batched"] for r in rows)  # ensemble auto: one by one on a CPU (benchmarks/ensemble.md)
    assert len(rows) == 6 * res["seeds"] and {r["test"]["n"] for r in rows} == {
        sum(res["splits"]["test"].values())
    }  # every arm tested on the full real test split
    # the latent diffusion model's first stage trained in the demo folder, and the generator read that run
    (ae,) = (quick_demo / "generators").glob("ldm_autoencoder-*")
    ldm_config = yaml.safe_load((Path(demo["generators"]["ldm"]) / "config.yaml").read_text())
    assert Path(ldm_config["model"]["autoencoder"]) == ae and (ae / "export" / "weights.safetensors").is_file()
    for g in ("cvae", "lsgan", "ldm"):
        (ev,) = Path(demo["generators"][g]).glob("eval-*/metrics.json")
        m = json.loads(ev.read_text())
        assert m["features"]["radgen-cnn001"]["extractor"]["name"] == "radgen-cnn001"
        assert m["real_split"] == "val" and m["n_real"] == m["n_floor"] == m["n_generated"]  # held-out reference
        assert (
            m["features"]["radgen-ae001"]["reference"]["floor"]["FD"] > 0
            and "per_class" in m["features"]["radgen-ae001"]
        )
        assert set(m["label_fidelity"]["per_class"]) == {"NORMAL", "PNEUMONIA"}
    ra = demo["rank_agreement"]
    assert (
        set(ra["order"]) == {"radgen-cnn001", "radgen-ae001", "radiomics"}  # the demo's three views
        and len(ra["pairs"]) == 3
        and ra["agree"] in (True, False)
    )
    md = (quick_demo / "report.md").read_text()
    assert "Rank agreement (Kendall's tau" in md and "### Label fidelity" in md and "### Per class" in md
    assert "(floor " in md and re.search(r"epoch\(s\) x \d+ batches", md)  # yardsticks and the budget trained


def test_demo_quick_results_carry_the_preregistration_both_families_and_a_verdict_per_primary(quick_demo):
    aug = quick_demo / "augment"
    res = json.loads((aug / "results.json").read_text())
    pre = json.loads((aug / "preregistration.json").read_text())
    trial = res["trial"]
    assert trial["preregistration"] == pre and pre["primary_endpoint"] == "auroc" and pre["delta"]["auroc"] == 0.01
    assert set(pre["secondary_endpoints"]) == set(ENDPOINTS) - {"auroc"} and len(pre["config_sha256"]) == 64
    demo = json.loads((quick_demo / "demo.json").read_text())
    best = demo["choice"]["chosen"]  # choose_generator's pick (test_the_demo_chooses_by_separation_...)
    assert best in demo["fidelity_gate"]["mixed_in"]
    assert pre["families"]["primary"] == [f"+{best} vs real", f"+{best} vs duplicate", f"+{best} vs weighted"]
    assert set(pre["families"]["secondary"]) == {f"{a} vs real" for a in res["arms"] if a not in ("real", f"+{best}")}
    prim, sec = trial["families"]["primary"], trial["families"]["secondary"]
    assert [r["comparison"] for r in prim] == pre["families"]["primary"] and len(sec) == 4
    for r in prim + sec:
        assert r["verdict"] in VERDICTS and r["endpoint"] == "auroc" and r["seeds"] == res["seeds"]
        c = r["endpoints"]["auroc"]
        assert c["low"] <= c["diff"] <= c["high"] and c["var_test"] >= 0 and c["var_seeds"] >= 0
    for r in prim:  # an undecided primary comparison says what the test images allow
        if r["verdict"] == "cannot tell":
            p = r["projection"]
            assert (
                0 <= p["cp"] <= 1
                and p["resolution"] >= 0
                and p["narrowest_margin"] >= abs(r["endpoints"]["auroc"]["diff"])
            )
    assert pre["futility"].startswith("non-binding")
    assert trial["stopped"] in ("decisive", "budget", "max_seeds", "futility") and [
        lk["seeds"] for lk in trial["looks"]
    ] in (
        [2],
        [2, 3],
    )
    scores = np.load(aug / "scores.npz")
    assert scores["test_prob"].shape == (6 * res["seeds"], sum(res["splits"]["test"].values()), 2)
    md = (quick_demo / "report.md").read_text()
    assert md.index("**Pre-registered**") < md.index("| primary |") < md.index("| secondary |")
    assert pre["config_sha256"][:16] in md and pre["created"] in md
    # the report opens with the answer: every primary verdict with its interval, above the evidence
    answer = md[md.index("**The answer.**") : md.index("## Data")]
    assert md.index("**The answer.**") < md.index("## Data") < md.index("**Pre-registered**")
    for r in prim:
        c = r["endpoints"]["auroc"]
        assert f"against ` {r['b']} ` {c['diff']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}], **{r['verdict']}" in answer
    assert "membership inference AUC" in answer and "flagged as copies" in answer
    for r in prim:
        if r["verdict"] == "cannot tell":
            assert f"- {r['comparison']}: cannot tell" in md and f"±{r['projection']['resolution']:.4f}" in md


def test_report_command_rebuilds_from_run_directories(quick_demo, tmp_path, capsys):
    runs = sorted(str(p) for p in (quick_demo / "generators").glob("*"))
    assert main(["report", *runs, str(quick_demo / "augment"), "--out", str(tmp_path)]) == 0
    md = (tmp_path / "report.md").read_text()
    for section in SECTIONS[1:]:
        assert section in md, section
    assert "report.html" in capsys.readouterr().out
    assert main(["report", *runs]) == 2  # several directories need --out


def test_demo_quick_reports_ensemble_fds_rank_probabilities_the_choice_and_the_sanity_appendix(quick_demo):
    from radgen.evaluation import EvaluationResult
    from radgen.evaluation.ranking import load_features
    from radgen.experiments.demo import DEMO_EXTRACTOR_SEEDS, DEMO_FEATURES, RULE_FALLBACK, RULE_SEPARATED

    demo = json.loads((quick_demo / "demo.json").read_text())
    md = (quick_demo / "report.md").read_text()
    assert demo["plan"]["features"] == list(DEMO_FEATURES) and demo["plan"]["extractor_seeds"] == DEMO_EXTRACTOR_SEEDS
    for g in ("cvae", "lsgan", "ldm"):
        (ev,) = Path(demo["generators"][g]).glob("eval-*")
        m = json.loads((ev / "metrics.json").read_text())
        assert set(m["features"]) == set(DEMO_FEATURES)
        for view in DEMO_FEATURES:
            ens = m["features"][view]["ensemble"]
            k = DEMO_EXTRACTOR_SEEDS if view != "radiomics" else 1  # the weight-free view has no seeds
            assert ens["seeds"] == list(range(k)) and len({e["weights_sha256"] for e in ens["extractors"]}) == k
            gen, flo = ens["reference"]["generated"], ens["reference"]["floor"]
            assert gen["FD"] == pytest.approx(np.mean(gen["per_seed"])) and len(gen["per_seed"]) == k
            assert 0 <= gen["FD_interval"][0] <= gen["FD_interval"][1] and flo["FD"] > 0
            d = EvaluationResult(m).distance(view)  # what the report's tables read: the ensemble
            assert d.value == gen["FD"] and d.n_seeds == k and d.ratio == pytest.approx(gen["FD"] / flo["FD"])
            assert set(ens["per_class"]) == {"NORMAL", "PNEUMONIA"}
            lo, hi = gen["FD_interval"]
            assert f"{gen['FD']:.3g} [{lo:.3g}, {hi:.3g}] (floor {flo['FD']:.3g}" in md, (g, view)
        kept = load_features(ev)  # what the rank probabilities pair on
        assert (
            len(kept["radgen-ae001"]["generated"]) == DEMO_EXTRACTOR_SEEDS and len(kept["radiomics"]["reference"]) == 1
        )
    # every pair of the demo's generators, under every view, and the statement the threshold allows
    ranking = demo["ranking"]
    assert ranking["views"] == list(DEMO_FEATURES) and ranking["threshold"] == 0.95
    pairs = {(r["a"], r["b"]): r for r in ranking["pairs"]}
    assert set(pairs) == {("cvae", "lsgan"), ("cvae", "ldm"), ("lsgan", "ldm")}
    assert "## Rank probabilities between the generators" in md
    assert "| A | B | P under radgen-cnn001 | P under radgen-ae001 | P under radiomics | statement |" in md
    for (a, b), r in pairs.items():
        ps = list(r["p"].values())
        if r["winner"] == a:
            assert min(ps) >= 0.95 and f"{a} before {b}" in r["statement"]
        elif r["winner"] == b:
            assert max(ps) <= 0.05 and f"{b} before {a}" in r["statement"]
        else:
            assert "not separated" in r["statement"] and not (min(ps) >= 0.95 or max(ps) <= 0.05)
        assert f"| {a} | {b} | " + " | ".join(f"{p:.3f}" for p in ps) in md
    # the generator mixed in, by the stated rule
    choice, gated = demo["choice"], demo["fidelity_gate"]["mixed_in"]
    best = choice["chosen"]
    if choice["rule"] == RULE_SEPARATED:
        assert all(pairs.get((best, h), pairs.get((h, best)))["winner"] == best for h in gated if h != best)
    else:
        assert choice["rule"] == RULE_FALLBACK
        fid = demo["fidelity_gate"]["fidelity"]
        assert fid[best] == max(fid[g] for g in gated)
        assert not any(
            all(pairs.get((g, h), pairs.get((h, g)))["winner"] == g for h in gated if h != g) for g in gated
        )
    assert f"is ` {best} `, chosen by the rule **{choice['rule']}**" in md
    # the sanity appendix, under every view
    sanity = json.loads((quick_demo / "sanity.json").read_text())
    assert list(sanity["views"]) == list(DEMO_FEATURES)
    assert sanity["generators"] == ["replay", "blurred replay", "noise", "label-swapped replay"]
    assert md.index("## Appendix: what each view measures") > md.index("## Does synthetic data help")
    for view in DEMO_FEATURES:
        assert f"| {view}: ` FD_{view} `, {1 if view == 'radiomics' else DEMO_EXTRACTOR_SEEDS} seed(s) | noise |" in md
