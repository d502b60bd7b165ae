"""Formats other tools read: diffusers pipelines (``diffusers_export``)."""
