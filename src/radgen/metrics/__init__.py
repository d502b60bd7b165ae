"""Evaluation metrics (the evaluation issue extends this package)."""
from radgen.metrics.likelihood import elbo_terms

__all__ = ["elbo_terms"]
