"""`radgen augment` on a tiny config, stderr not a terminal: the stage's lines (an untrained CVAE as generator)."""

import pathlib
import tempfile

import torch
import yaml

from radgen.cli import main
from radgen.models import build_model
from radgen.models.export import save_exported

t = pathlib.Path(tempfile.mkdtemp())
torch.manual_seed(0)
m = build_model({"name": "cvae", "widths": [8, 16, 32], "latent_dim": 4}, image_size=28, channels=1, num_classes=2)
g = save_exported(m, t / "export", extra={"data": {"name": "pneumoniamnist", "class_names": ["normal", "pneumonia"]}})
cfg = {
    "data": {"name": "pneumoniamnist", "val_from_train": 0.1},
    "classifier": "cnn001",
    "train": {"epochs": 1, "batch_size": 64},
    "generators": {"cvae": str(g)},
    "arms": ["real", "synthetic"],
    "seeds": 2,
    "max_train": 200,
    "trial": {"sequential": False},
    "output_dir": str(t),
}
(t / "a.yaml").write_text(yaml.safe_dump(cfg))
main(["augment", "--config", str(t / "a.yaml")])
