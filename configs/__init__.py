"""The bundled YAML configs, installed as the package ``careerpath_configs`` (see pyproject.toml).

Read them through ``careerpath.core.config.bundled_config("data/default.yaml")``; this file makes the
folder a regular package so ``importlib.resources`` finds it in editable installs too.
"""
