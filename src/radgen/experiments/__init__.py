"""Experiments built from the library: the augmentation experiment and the demo."""
