"""Issue 34, deliverable 5 measured: the sanity set under every weight-free or domain view, extractor ensembles of
3 seeds. Run from the repository root:

    OMP_NUM_THREADS=2 flock /tmp/radgen-cpu.lock /usr/bin/time -v .venv/bin/python docs/results/issue34_sanity/run.py

Writes sanity.json and sanity.md beside this file. Extractors are trained into /tmp/radgen-issue34-extractors
(not the shared data cache), on the run's training split as the evaluation does.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from radgen.data import DataConfig, load_dataset
from radgen.evaluation import build_sets
from radgen.evaluation.sanity import sanity_check, sanity_sets
from radgen.metrics.features import get_extractor
from radgen.reports.sanity import sanity_markdown

torch.set_num_threads(2)
HERE = Path(__file__).parent
SEEDS = (0, 1, 2)
N, RESAMPLES, EPOCHS = 500, 100, 8
cache = Path("/tmp/radgen-issue34-extractors")
dcfg = DataConfig(name="pneumoniamnist", val_from_train=0.1)
ds = load_dataset(dcfg, progress=False)
sets = build_sets(ds, n=N, seed=0)
gens = sanity_sets(sets, ds["train"], seed=0)
t0 = time.time()
views = {"radiomics": [get_extractor("radiomics")]}
for name in ("radgen-cnn001", "radgen-ae001"):
    views[name] = [
        get_extractor(name, data_config=dcfg, epochs=EPOCHS, seed=s, cache_dir=cache, progress=False) for s in SEEDS
    ]
t_train = time.time() - t0
t0 = time.time()
res = sanity_check(views, sets.reference.images, sets.floor.images, gens, n_resamples=RESAMPLES, seed=0)
t_eval = time.time() - t0
res["setup"] = {
    "dataset": "pneumoniamnist (val_from_train=0.1, reference = held-out val)",
    "n": N,
    "extractor_seeds": list(SEEDS),
    "extractor_epochs": EPOCHS,
    "resamples": RESAMPLES,
    "seconds_extractors_train_or_load": round(t_train, 1),
    "seconds_sanity_check": round(t_eval, 1),
    "torch_threads": 2,
    "command": " ".join(sys.argv),
}
(HERE / "sanity.json").write_text(json.dumps(res, indent=1, default=float))
(HERE / "sanity.md").write_text("\n".join(sanity_markdown(res, "Sanity set under every view (issue 34)")) + "\n")
print((HERE / "sanity.md").read_text())
print(res["setup"])
