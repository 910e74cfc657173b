"""Baselines, evaluation against priors and the oracle ceiling, bias, plots."""
