"""Evaluation metrics (the evaluation issue extends this package)."""
from radgen.metrics.diversity import ms_ssim, pairwise_ms_ssim
from radgen.metrics.likelihood import elbo_terms
from radgen.metrics.mmd import mmd

__all__ = ["elbo_terms", "mmd", "ms_ssim", "pairwise_ms_ssim"]
