import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "tests" / "assets"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_catalog_dir() -> Path:
    return ASSETS / "tiny_catalog"


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, tiny_catalog_dir) -> Path:
    """A dataset built by the real build from the tiny catalog (seconds)."""
    from data_prep.build import build_dataset, load_data_config

    cfg = load_data_config(ROOT / "configs" / "data" / "tiny.yaml", {"catalog": str(tiny_catalog_dir)})
    out = tmp_path_factory.mktemp("data") / "tiny"
    build_dataset(cfg, out, progress=False)
    return out
