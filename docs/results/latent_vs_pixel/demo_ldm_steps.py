"""The demo's latent model: the evaluation's sampling at DPM-Solver++ 20 (demo run) vs 10 steps, paired, same process.

Usage: python demo_ldm_steps.py RUN_DIR [--out demo_ldm_steps.json] [--repeats 2] [--n 1000]
(RUN_DIR: the demo's latent-diffusion generator, e.g. runs/demo-*/generators/ldm-*).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from radgen.evaluation import evaluate_generator, generate_like
from radgen.models import load_exported
from radgen.runfolder import load_run_data


def main() -> None:
    """Evaluate the run at 10 and 20 sampling steps, ``--repeats`` times each, and write the numbers as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=Path("demo_ldm_steps.json"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()

    model, _ = load_exported(args.run)
    data = load_run_data(args.run, model, data=None, split="train", option="--real")
    out: dict[int, list[dict]] = {}
    for rep in range(args.repeats):
        for steps in (10, 20):
            spent = [0.0]

            def sample(labels, s, steps=steps, spent=spent):
                t0 = time.perf_counter()
                x = generate_like(model, labels, seed=s, sampler="dpmsolver++", steps=steps)
                spent[0] += time.perf_counter() - t0
                return x

            t0 = time.perf_counter()
            m, _ = evaluate_generator(sample, data.splits, conditional=True, data_config=data.config, n=args.n)
            total = time.perf_counter() - t0
            cnn = m["features"]["radgen-cnn001"]["reference"]
            ae = m["features"]["radgen-ae001"]["reference"]
            row = {
                "eval_seconds": total,
                "sampling_seconds": spent[0],
                "fd_cnn": cnn["generated"]["FD"],
                "ratio_cnn": cnn["FD_ratio"],
                "fd_ae": ae["generated"]["FD"],
                "ratio_ae": ae["FD_ratio"],
                "fidelity": {k: v["generated"] for k, v in m["label_fidelity"]["per_class"].items()},
            }
            out.setdefault(steps, []).append(row)
            print(steps, rep, row, flush=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
