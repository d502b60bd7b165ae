"""Analysis tools over trained runs: latent-space plots."""
