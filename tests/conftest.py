import atexit
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if "HF_DATASETS_CACHE" not in os.environ:
    # a datasets cache of this run's own: load_dataset on a local folder is cached by the folder's
    # path, and pytest reuses tmp paths (pytest-of-<user>/pytest-N), so a shared cache can answer
    # for a new folder with an old one's rows
    os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="careerpath-tests-datasets-")
    atexit.register(shutil.rmtree, os.environ["HF_DATASETS_CACHE"], ignore_errors=True)

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "tests" / "assets"
# ../shared/data next to the checkout; CAREERPATH_SHARED_DATA points elsewhere (e.g. from a git worktree)
SHARED_DATA = Path(os.environ.get("CAREERPATH_SHARED_DATA") or ROOT.parent / "shared" / "data")


@pytest.fixture
def fresh_accelerator_state():
    """accelerate keeps one mixed precision per process (its AcceleratorState); a test that trains in
    another precision than the default starts and ends with a clean state, as accelerate's own
    tests do."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(True)
    yield
    AcceleratorState._reset_state(True)


@pytest.fixture(scope="session")
def tiny_catalog_dir() -> Path:
    return ASSETS / "tiny_catalog"


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, tiny_catalog_dir) -> Path:
    """A dataset built by the real build from the tiny catalog (seconds)."""
    from careerpath.data.build import build_dataset, load_data_config

    cfg = load_data_config(ROOT / "configs" / "data" / "tiny.yaml", {"catalog": str(tiny_catalog_dir)})
    out = tmp_path_factory.mktemp("data") / "tiny"
    build_dataset(cfg, out, progress=False)
    return out


TINY_MODEL_ARGS = [
    "--model.d-model",
    "32",
    "--model.num-layers",
    "1",
    "--model.num-heads",
    "2",
    "--model.d-ff",
    "64",
    "--model.vocab-size",
    "600",
]
TINY_MODEL_ARGS += [
    "--train.batch-size",
    "16",
    "--data.max-eval-examples",
    "4",
    "--generation.max-new-tokens",
    "24",
    "--train.num-threads",
    "1",
]
TINY_MODEL_ARGS += ["--train.epochs", "1", "--train.max-steps", "6", "--train.log-every", "100"]


def small_t5_args(max_eval: int, max_new_tokens: int) -> list[str]:
    """A two-layer T5 (d_model 32, vocabulary 1000, batch 8, one thread) for tests that train their
    own model: ``max_eval`` validation rows, ``max_new_tokens`` generated tokens."""
    args = [
        "--model.d-model",
        "32",
        "--model.num-layers",
        "2",
        "--model.num-heads",
        "2",
        "--model.d-ff",
        "64",
    ]
    args += ["--model.vocab-size", "1000", "--train.batch-size", "8", "--train.num-threads", "1"]
    return args + [
        "--data.max-eval-examples",
        str(max_eval),
        "--generation.max-new-tokens",
        str(max_new_tokens),
    ]


@pytest.fixture(scope="session")
def tiny_model(tiny_dataset, tmp_path_factory) -> Path:
    """A tiny T5 trained for a few steps on the tiny dataset (seconds); shared by the model-side tests."""
    from careerpath.core.config import load_config
    from careerpath.training import training

    out = tmp_path_factory.mktemp("tiny_model") / "model"
    cfg = load_config(
        ["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--data.data-dir", str(tiny_dataset)]
        + ["--train.output-dir", str(out), *TINY_MODEL_ARGS]
    )
    return training.run_training(cfg)


def launch_local(demo) -> int:
    """Launch a Gradio app on a free port of 127.0.0.1 without blocking; returns the port."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, ssr_mode=False, quiet=True
    )
    return port
