"""The network, its priors and scoring, the model folder, its card and Hub copy."""
