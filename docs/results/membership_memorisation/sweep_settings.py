"""Which MLP-VAE setting memorises 64 PneumoniaMNIST images (summary.md, first table).

RADGEN_DATA_DIR=/work/shared/data OMP_NUM_THREADS=2 flock /tmp/radgen-cpu.lock \\
      .venv/bin/python docs/results/membership_memorisation/sweep_settings.py
"""

import time

import torch

from radgen.data import load_dataset
from radgen.metrics.membership import auc, model_scores
from radgen.models.base import build_model

torch.set_num_threads(2)
ds = load_dataset("pneumoniamnist", progress=False)
tr, va = ds["train"].images, ds["val"].images
members, non, non2 = tr[:64], va[:128], va[128:256]


def run(latent, beta, hidden, steps, lr, loss="bce"):
    torch.manual_seed(0)
    m = build_model(
        {"name": "vae", "latent_dim": latent, "beta": beta, "hidden": hidden, "recon_loss": loss},
        image_size=28,
        channels=1,
        num_classes=2,
    )
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    t0 = time.time()
    m.train()
    for _ in range(steps):
        out = m((members, torch.zeros(64, dtype=torch.long)))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    m.eval()
    a = auc(model_scores(m, members, None).numpy(), model_scores(m, non, None).numpy())
    c = auc(model_scores(m, non2, None).numpy(), model_scores(m, non, None).numpy())
    print(
        latent,
        beta,
        hidden,
        steps,
        lr,
        loss,
        f"loss={out.loss.item():.1f} auc={a:.3f} ctrl={c:.3f} t={time.time() - t0:.1f}s",
        flush=True,
    )


for args in [
    (8, 1.0, [256, 256], 1000, 2e-3, "mse"),
    (8, 0.1, [256, 256], 1000, 2e-3, "mse"),
    (8, 0.01, [256, 256], 1500, 2e-3, "mse"),
    (4, 0.1, [512, 512], 1000, 2e-3, "mse"),
]:
    run(*args)
