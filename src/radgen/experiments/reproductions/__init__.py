"""One module per reproduction of a design document's experiment (``radgen reproduce NAME``).

Each module registers its reproduction with the options it takes (``base.register_reproduction``); importing
this package registers them all. Registered names are public and stay: seed000-trials, seed002-table1,
seed003-table4, seed003-table5, seed004-tables.
"""

from radgen.experiments.reproductions import (  # noqa: F401  (each module registers its reproduction)
    adversarial_tables,
    family_cost,
    mlp_vae_latents,
    pretrained_gmvae,
    resnet_vae_trials,
)
from radgen.experiments.reproductions.base import REPRODUCTIONS, ReproduceContext, Reproduction

__all__ = ["REPRODUCTIONS", "ReproduceContext", "Reproduction"]
