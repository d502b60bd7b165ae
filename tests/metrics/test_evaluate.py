"""`radgen evaluate` end to end on a tiny trained run."""

from __future__ import annotations

import json
import re

import pytest

from radgen.cli import main
from radgen.training import load_run_config, train


def test_evaluate_writes_metrics_with_named_extractor(tmp_path, capsys):
    r = train(
        load_run_config(
            "tiny",
            ["train.progress_bar=false", f"output_dir={tmp_path}", "train.epochs=1", "train.limit_train_batches=5"],
        )
    )
    assert (
        main(["evaluate", str(r.run_dir), "--n", "120", "--features", "radgen-cnn001", "--extractor-seeds", "1"]) == 0
    )
    out = capsys.readouterr().out
    assert "FD_radgen-cnn001" in out and "FID" not in out.replace("FD_", "")  # never a number named FID here
    folder = next(r.run_dir.glob("eval-*"))
    m = json.loads((folder / "metrics.json").read_text())
    f = m["features"]["radgen-cnn001"]
    assert m["n_real"] == m["n_generated"] == m["n_floor"] == 120 and m["real_split"] == "val"
    assert not m["reference"]["shifted"] and m["shifted_test"]["split"] == "test"
    assert f["reference"]["floor"]["FD"] > 0 and f["FD_radgen-cnn001_ratio"] == pytest.approx(
        f["FD_radgen-cnn001"] / f["FD_radgen-cnn001_floor"]
    )
    assert m["budget"]["epochs"] == 1 and m["budget"]["batches"] == 5 and m["budget"]["source"].startswith("measured")
    assert len(f["extractor"]["weights_sha256"]) == 64 and f["extractor"]["record"]["dataset"] == "pneumoniamnist"
    lo, hi = f["FD_radgen-cnn001_ci95"]
    assert lo <= f["FD_radgen-cnn001"] * 1.5 and hi >= f["FD_radgen-cnn001"] * 0.5 and f["FD_radgen-cnn001"] > 0
    assert 1.0 <= f["IS_radgen-cnn001"] <= 2.0  # two classes bound the score
    assert (
        "iwae_k50" in m["likelihood"]
        and m["likelihood"]["iwae_k50"]["log_px_bound"] <= -m["likelihood"]["elbo_terms"]["neg_elbo"] + 5
    )
    p = m["privacy"]  # the copy audit searched every training image; both attacks ran
    assert (
        p["copy_audit"]["n_train_searched"]
        == json.loads((r.run_dir / "run.json").read_text())["data"]["splits"]["train"]
    )
    assert p["copy_audit"]["nominal_false_positive_rate"] == 0.01 and p["copy_audit"]["heldout_split"] == "val"
    for attack in ("black_box", "model_based"):
        mi = p["membership_inference"][attack]
        assert 0 <= mi["auc"] <= 1 and mi["auc_ci95"][0] <= mi["auc"] <= mi["auc_ci95"][1] and "tpr_at_0.01_fpr" in mi
    assert "training_privacy" not in m  # trained without DP
    md = (folder / "metrics.md").read_text()
    assert (folder / "memorization.png").is_file() and md.startswith("## Evaluation")
    assert "membership-inference attack" in md and "copy audit against all" in md
    assert "(floor " in md and re.search(r"x 5 batches", md) and "held-out" in md  # yardsticks, budget, which set
    assert main(["evaluate", str(r.run_dir), "--n", "50", "--features", "inception"]) == 2
    assert "never a number named FID" in capsys.readouterr().err
