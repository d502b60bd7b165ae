"""Evaluation metrics (the evaluation issue extends this package)."""

from radgen.metrics.diversity import ms_ssim, pairwise_ms_ssim
from radgen.metrics.likelihood import elbo_terms, iwae_bound
from radgen.metrics.memorization import memorization_report
from radgen.metrics.mmd import mmd
from radgen.metrics.reconstruction import reconstruction_metrics

__all__ = [
    "elbo_terms",
    "iwae_bound",
    "memorization_report",
    "reconstruction_metrics",
    "mmd",
    "ms_ssim",
    "pairwise_ms_ssim",
]
