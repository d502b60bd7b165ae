"""One training engine for every registered model (Lightning underneath)."""

from radgen.training.config import RunConfig, TrainConfig, load_run_config
from radgen.training.run import RunResult, train

__all__ = ["RunConfig", "RunResult", "TrainConfig", "load_run_config", "train"]
