"""The chosen setting over seeds, both attacks and a two-held-out-sets control (summary.md, second table).

RADGEN_DATA_DIR=/work/shared/data OMP_NUM_THREADS=2 flock /tmp/radgen-cpu.lock \\
      .venv/bin/python docs/results/membership_memorisation/seeds_and_controls.py
"""

import time

import torch

from radgen.data import load_dataset
from radgen.metrics.membership import membership_inference
from radgen.models.base import build_model

torch.set_num_threads(2)
ds = load_dataset("pneumoniamnist", progress=False)
tr, va = ds["train"], ds["val"]
for seed in (0, 1, 2):
    for steps in (800, 1500):
        torch.manual_seed(seed)
        members = tr.images[64 * seed : 64 * seed + 64]
        m = build_model(
            {"name": "vae", "latent_dim": 8, "beta": 0.01, "hidden": [256, 256], "recon_loss": "mse"},
            image_size=28,
            channels=1,
            num_classes=2,
        )
        opt = torch.optim.Adam(m.parameters(), lr=2e-3)
        t0 = time.time()
        m.train()
        for _ in range(steps):
            out = m((members, torch.zeros(64, dtype=torch.long)))
            opt.zero_grad()
            out.loss.backward()
            opt.step()
        t1 = time.time() - t0
        m.eval()
        gen = m.sample(256, generator=torch.Generator().manual_seed(0))
        mi = membership_inference(members, None, va.images[:128], None, generated=gen, model=m, bootstrap=200)
        ctrl = membership_inference(
            va.images[128:256], None, va.images[:128], None, generated=gen, model=m, bootstrap=200
        )
        print(
            seed,
            steps,
            f"fit {t1:.1f}s total {time.time() - t0:.1f}s",
            {
                k: (round(mi[k]["auc"], 3), mi[k]["tpr_at_0.01_fpr"], [round(v, 3) for v in mi[k]["auc_ci95"]])
                for k in ("black_box", "model_based")
            },
            "ctrl",
            {
                k: (round(ctrl[k]["auc"], 3), [round(v, 3) for v in ctrl[k]["auc_ci95"]])
                for k in ("black_box", "model_based")
            },
            flush=True,
        )
