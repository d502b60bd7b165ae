"""The demo's latent model: the evaluation's sampling at DPM-Solver++ 20 (demo run) vs 10 steps, paired, same process."""
import glob, json, time, sys
from pathlib import Path
import torch
from radgen.evaluation import _load_run_data, evaluate_generator, generate_like
from radgen.models import load_exported

run = Path(glob.glob("/tmp/s7/demo/runs/demo-*/generators/ldm-*")[0])
model, _ = load_exported(run)
dcfg, ds = _load_run_data(run, model, None)
out = {}
for rep in range(2):
    for steps in (10, 20):
        spent = [0.0]
        def sample(labels, s, steps=steps, spent=spent):
            t0 = time.perf_counter(); x = generate_like(model, labels, seed=s, sampler="dpmsolver++", steps=steps)
            spent[0] += time.perf_counter() - t0; return x
        t0 = time.perf_counter()
        m, _ = evaluate_generator(sample, ds, conditional=True, data_config=dcfg, n=1000)
        total = time.perf_counter() - t0
        c = m["features"]["radgen-cnn001"]["reference"]; a = m["features"]["radgen-ae001"]["reference"]
        r = {"eval_seconds": total, "sampling_seconds": spent[0], "fd_cnn": c["generated"]["FD"], "ratio_cnn": c["FD_ratio"],
             "fd_ae": a["generated"]["FD"], "ratio_ae": a["FD_ratio"],
             "fidelity": {k: v["generated"] for k, v in m["label_fidelity"]["per_class"].items()}}
        out.setdefault(steps, []).append(r); print(steps, rep, r, flush=True)
json.dump(out, open("/tmp/s7/ldm_steps.json", "w"), indent=1)
