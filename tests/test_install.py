"""A regular (non-editable) install works away from the checkout: ``pip install .`` then ``careerpath quickstart``.

The wheel is built from a copy of the sources and installed into a fresh venv whose only other
entry on ``sys.path`` is this interpreter's site-packages (for torch & co.), added by a ``.pth`` line:
the ``.pth`` files inside it (an editable careerpath's finder among them) are not read, and the
commands run from a temporary folder, so the checkout's code cannot be imported by accident.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
SOURCES = ("careerpath", "data_prep", "configs", "pyproject.toml", "README.md")


def _copy_sources(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def _venv(path: Path) -> Path:
    """A venv that sees this interpreter's dependencies but no careerpath."""
    subprocess.run([PY, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    return python


def _pip_install(python: Path, *args: str) -> None:
    cmd = [PY, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index"]
    subprocess.run([*cmd, "--ignore-installed", *args], check=True, cwd=python.parents[2])


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1"}


def _run(cmd: list[str], cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = _copy_sources(tmp / "src")
    cmd = [PY, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index", "--no-build-isolation", str(src)]
    subprocess.run([*cmd, "-w", str(tmp / "dist")], check=True, cwd=tmp)
    (whl,) = (tmp / "dist").glob("careerpath-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The venv's python after ``pip install careerpath-*.whl`` (not editable)."""
    python = _venv(tmp_path_factory.mktemp("venv") / "venv")
    _pip_install(python, str(wheel))
    return python


def test_wheel_holds_every_module_config_and_catalog_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        str(p.relative_to(ROOT)) for pkg in ("careerpath", "data_prep") for p in (ROOT / pkg).rglob("*.py")
    }
    expected |= {
        str(p.relative_to(ROOT)) for p in (ROOT / "careerpath" / "core" / "catalog_data").glob("*.csv")
    }
    configs = [*(ROOT / "configs").rglob("*.yaml"), ROOT / "configs" / "__init__.py"]
    expected |= {"careerpath_configs/" + str(p.relative_to(ROOT / "configs")) for p in configs}
    expected = {e for e in expected if "__pycache__" not in e}
    assert len(configs) > 15 and "careerpath_configs/data/default.yaml" in expected
    assert not expected - names, f"missing from the wheel: {sorted(expected - names)}"
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"careerpath", "data_prep", "careerpath_configs"}  # no stray top-level configs/ or tests/


CHECK = """
import json, sys
import careerpath, careerpath_configs, data_prep
from careerpath.core.config import bundled_config, load_config
from careerpath.data.build import load_data_config
from careerpath.core.catalog import load_catalog
from careerpath.curation.clustering import load_clustering_config
from careerpath.curation.tagging import load_tagging_config
print(json.dumps({
    "files": [careerpath.__file__, data_prep.__file__, careerpath_configs.__file__],
    "sys_path": sys.path,
    "default": str(bundled_config("data/default.yaml")),
    "users": load_data_config(bundled_config("data/default.yaml")).synthesis.users,
    "tiny_t5_layers": load_config([]).model.num_layers,
    "tagging": load_tagging_config().threshold,
    "k_min": load_clustering_config().k_min,
    "jobs": len(load_catalog().jobs),
}))
"""


def test_installed_package_finds_its_configs_and_catalog_outside_the_checkout(installed, tmp_path):
    venv = installed.parents[1]
    out = json.loads(_run([str(installed), "-c", CHECK], cwd=tmp_path).stdout)
    for f in out["files"]:
        assert Path(f).is_relative_to(venv), f"imported {f}, not the installed package"
    # the checkout's sources are not importable in the child: no path entry holds them (a venv inside
    # the checkout, as .ci/run makes, may be on the path: it holds installed packages, not these sources)
    sources = {ROOT.resolve()} | {(ROOT / d).resolve() for d in ("careerpath", "data_prep", "configs")}
    assert not any(p and Path(p).resolve() in sources for p in out["sys_path"]), out["sys_path"]
    assert Path(out["default"]).is_relative_to(venv / "lib") and out["default"].endswith(
        "careerpath_configs/data/default.yaml"
    )
    assert out["jobs"] == 136  # the bundled catalog_data/*.csv
    # the installed YAMLs hold what the checkout's hold (a default is not silently the dataclass's)
    import yaml

    assert (
        out["users"] == yaml.safe_load((ROOT / "configs/data/default.yaml").read_text())["synthesis"]["users"]
    )
    assert (
        out["tiny_t5_layers"]
        == yaml.safe_load((ROOT / "configs/tiny_t5.yaml").read_text())["model"]["num_layers"]
    )
    assert out["tagging"] == yaml.safe_load((ROOT / "configs/data/tagging.yaml").read_text())["threshold"]
    assert out["k_min"] == yaml.safe_load((ROOT / "configs/data/clustering.yaml").read_text())["k_min"]
    script = venv / "bin" / "careerpath"
    assert script.read_text().splitlines()[0] == f"#!{installed}"
    assert "quickstart" in _run([str(script), "--help"], cwd=tmp_path).stdout


def test_editable_install_reads_the_checkout_configs(tmp_path):
    src = _copy_sources(tmp_path / "src")
    python = _venv(tmp_path / "venv")
    _pip_install(python, "--no-build-isolation", "-e", str(src))
    code = (
        "import importlib.resources as r; from careerpath.core.config import bundled_config; "
        "print(r.files('careerpath_configs').joinpath('tiny_t5.yaml')); print(bundled_config('data/tagging.yaml'))"
    )
    lines = _run([str(python), "-c", code], cwd=tmp_path).stdout.split()
    assert lines == [str(src / "configs" / "tiny_t5.yaml"), str(src / "configs" / "data" / "tagging.yaml")]


def test_bundled_config_in_a_clone_is_the_clones_file_and_a_wrong_name_says_what_to_do():
    from careerpath.core.config import bundled_config

    assert bundled_config("data/default.yaml") == ROOT / "configs" / "data" / "default.yaml"
    with pytest.raises(FileNotFoundError, match=r"bundled config 'data/nope.yaml' not found.*--config"):
        bundled_config("data/nope.yaml")


@pytest.mark.slow
def test_installed_quickstart_fast_runs_end_to_end(installed, tmp_path):
    """``careerpath quickstart --fast`` through the installed console script, from a folder outside the repo."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    script = installed.parent / "careerpath"
    proc = _run([str(script), "quickstart", "--fast", "--users", "40", "--out", "out"], cwd=cwd, timeout=900)
    out = cwd / "out"
    weights = load_file(out / "tiny_t5" / "model.safetensors")
    assert weights and all(t.isfinite().all() for t in weights.values())
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert {"model", "baselines", "oracle", "ratio_to_ceiling"} <= set(metrics)
    report = (out / "report" / "report.md").read_text()
    figures = [line.split("](")[1].split(")")[0] for line in report.splitlines() if line.startswith("![")]
    assert figures and all((out / "report" / f).is_file() for f in figures), figures
    assert "pathway to Machine Learning Engineer" in proc.stdout
