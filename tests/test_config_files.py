"""Every YAML under configs/ is read by the loader the project itself uses for it, and says what it should.

Model configs are checked in tests/test_config.py; this file covers configs/data/ and
configs/accelerate/, and fails when a YAML appears under configs/ that no test loads.
"""

from dataclasses import asdict, is_dataclass
from pathlib import Path

import pytest
import yaml
from accelerate.commands.config.config_args import ClusterConfig
from accelerate.utils import DistributedType

from careerpath.curation.clustering import ClusteringConfig, load_clustering_config
from careerpath.curation.tagging import TaggingConfig, load_tagging_config
from careerpath.data.build import DataConfig, load_data_config
from careerpath.importers.esco import EscoImportConfig
from careerpath.importers.onet import OnetImportConfig, load_import_config

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
DATA = CONFIGS / "data"

# configs/data/<name>.yaml -> (loader, the dataclass it must produce); build configs are the rest
SPECIAL = {
    "tagging": (load_tagging_config, TaggingConfig),
    "clustering": (load_clustering_config, ClusteringConfig),
    "onet_import": (lambda p: load_import_config(OnetImportConfig, p), OnetImportConfig),
    "esco_import": (lambda p: load_import_config(EscoImportConfig, p), EscoImportConfig),
}
BUILD_CONFIGS = sorted(p for p in DATA.glob("*.yaml") if p.stem not in SPECIAL)
ACCELERATE_CONFIGS = sorted((CONFIGS / "accelerate").glob("*.yaml"))


def _as_plain(value):
    """Dataclasses and tuples as the dicts and lists a YAML file holds."""
    if is_dataclass(value):
        return {k: _as_plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: _as_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_plain(v) for v in value]
    return value


def _assert_every_key_landed(raw: dict, loaded, where: str):
    """Each key of the YAML is a field of the loaded object holding the same value (nested too)."""
    plain = _as_plain(loaded)
    for key, value in raw.items():
        assert key in plain, f"{where}: {key} did not reach the config"
        if isinstance(value, dict) and isinstance(plain[key], dict) and key not in ("split",):
            _assert_every_key_landed(value, plain[key], f"{where}.{key}")
        else:
            assert plain[key] == pytest.approx(value) if isinstance(value, float) else plain[key] == value, (
                f"{where}.{key}: file says {value!r}, loaded {plain[key]!r}"
            )


def test_every_yaml_under_configs_is_loaded_by_a_test():
    covered = {p.resolve() for p in BUILD_CONFIGS + ACCELERATE_CONFIGS}
    covered |= {(DATA / f"{name}.yaml").resolve() for name in SPECIAL}
    covered |= {p.resolve() for p in CONFIGS.glob("*.yaml")}  # model configs: tests/test_config.py
    everything = {p.resolve() for p in CONFIGS.rglob("*.yaml")} | {
        p.resolve() for p in CONFIGS.rglob("*.yml")
    }
    missing = sorted(str(p.relative_to(ROOT)) for p in everything - covered)
    assert not missing, f"no test loads {missing}; add them to tests/test_config_files.py"
    for name in SPECIAL:
        assert (DATA / f"{name}.yaml").is_file(), f"configs/data/{name}.yaml is expected by its command"


@pytest.mark.parametrize("path", BUILD_CONFIGS, ids=lambda p: p.name)
def test_build_config_loads_into_data_config(path):
    raw = yaml.safe_load(path.read_text())
    cfg = load_data_config(path)
    assert isinstance(cfg, DataConfig)
    _assert_every_key_landed(raw, cfg, path.name)
    assert set(cfg.split) == {"train", "validation", "test"}
    assert sum(cfg.split.values()) == pytest.approx(1.0)
    assert cfg.synthesis.users >= 100, "too few users for a train/validation/test split by user"
    if cfg.catalog is not None and not cfg.catalog.startswith("outputs/"):
        assert (ROOT / cfg.catalog / "jobs.csv").is_file(), f"{path.name}: catalog {cfg.catalog} is missing"


def test_default_build_config_is_the_documented_dataset():
    """What the README and docs/data.md state about the default build."""
    cfg = load_data_config(DATA / "default.yaml")
    assert cfg.catalog is None  # the bundled catalog
    assert (cfg.synthesis.users, cfg.synthesis.seed) == (1400, 13)
    assert cfg.context.enabled and cfg.context.goal_weight == 0.5 and cfg.context.prereq_weight == 0.5
    assert cfg.synthesis.move_threshold == 0.8


@pytest.mark.parametrize(
    "name, key, value",
    [
        (
            "variant_move_timing",
            "family_move_prob",
            {"healthcare": 0.25, "software": 0.25, "business-finance": 0.25},
        ),
        ("variant_providers", "provider_bonus", 1.0),
    ],
)
def test_variant_differs_from_default_only_in_its_variant(name, key, value):
    default = _as_plain(load_data_config(DATA / "default.yaml"))
    variant = _as_plain(load_data_config(DATA / f"{name}.yaml"))
    assert variant["synthesis"][key] == value and default["synthesis"][key] != value
    changed = {k for k in default["synthesis"] if default["synthesis"][k] != variant["synthesis"][k]}
    # the variants leave out the goal-less and job-only people the default adds
    assert changed <= {key, "no_goal_share", "job_only_share"}, changed
    assert {k: v for k, v in default.items() if k != "synthesis"} == {
        k: v for k, v in variant.items() if k != "synthesis"
    }


@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_command_config_loads_into_its_dataclass(name):
    loader, cls = SPECIAL[name]
    path = DATA / f"{name}.yaml"
    raw = yaml.safe_load(path.read_text())
    cfg = loader(path)
    assert isinstance(cfg, cls)
    _assert_every_key_landed(raw, cfg, path.name)


def test_command_configs_hold_the_documented_thresholds():
    tagging = load_tagging_config(DATA / "tagging.yaml")
    assert (tagging.threshold, tagging.review_floor) == (0.6, 0.45)  # pre-accept and review band
    assert load_clustering_config(DATA / "clustering.yaml").pca_dims == 8
    onet = load_import_config(OnetImportConfig, DATA / "onet_import.yaml")
    assert onet.tech == "hot" and onet.max_tech_share == 0.2 and onet.office_weight == 0.25
    esco = load_import_config(EscoImportConfig, DATA / "esco_import.yaml")
    assert esco.max_skills_per_job == 30 and esco.courses.generate is True


# ------------------------------------------------------------------ accelerate launch configs

REQUIRED_ACCELERATE_KEYS = {
    "compute_environment",
    "distributed_type",
    "num_machines",
    "num_processes",
    "machine_rank",
    "mixed_precision",
}


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=lambda p: p.name)
def test_accelerate_config_has_what_accelerate_launch_needs(path):
    raw = yaml.safe_load(path.read_text())
    missing = REQUIRED_ACCELERATE_KEYS - set(raw)
    assert not missing, f"{path.name}: missing {sorted(missing)}"
    cfg = ClusterConfig.from_yaml_file(str(path))  # refuses keys accelerate does not know
    assert cfg.compute_environment.value == "LOCAL_MACHINE"
    kind = DistributedType(cfg.distributed_type)
    assert cfg.num_machines == 1 and cfg.machine_rank == 0
    assert cfg.mixed_precision in ("no", "bf16"), "fp16 overflows in T5"
    assert cfg.main_training_function == "main"  # train.py's entry point
    if kind == DistributedType.NO:
        assert cfg.num_processes == 1
    else:
        assert cfg.num_processes >= 2, f"{path.name}: {kind.value} with one process"
    if kind == DistributedType.FSDP:
        fsdp = raw["fsdp_config"]
        assert fsdp["fsdp_auto_wrap_policy"] in ("TRANSFORMER_BASED_WRAP", "SIZE_BASED_WRAP", "NO_WRAP")
        assert fsdp["fsdp_state_dict_type"] in ("FULL_STATE_DICT", "SHARDED_STATE_DICT", "LOCAL_STATE_DICT")
        assert fsdp["fsdp_version"] in (1, 2)


def test_accelerate_configs_cover_cpu_gpu_ddp_fsdp():
    kinds = {p.stem: ClusterConfig.from_yaml_file(str(p)) for p in ACCELERATE_CONFIGS}
    assert (
        kinds["cpu"].use_cpu is True and DistributedType(kinds["cpu"].distributed_type) == DistributedType.NO
    )
    assert kinds["single_gpu"].use_cpu is False and kinds["single_gpu"].mixed_precision == "bf16"
    assert DistributedType(kinds["multi_gpu_ddp"].distributed_type) == DistributedType.MULTI_GPU
    assert DistributedType(kinds["fsdp"].distributed_type) == DistributedType.FSDP
