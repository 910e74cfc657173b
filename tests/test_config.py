"""Every config in configs/ loads and validates; flags override YAML; bad names fail clearly."""

from pathlib import Path

import pytest
import yaml
from accelerate.commands.config.config_args import ClusterConfig

from careerpath.core.config import Config, ConfigError, load_config, validate

ROOT = Path(__file__).resolve().parent.parent
TRAIN_CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
ACCELERATE_CONFIGS = sorted((ROOT / "configs" / "accelerate").glob("*.yaml"))


def test_expected_configs_exist():
    names = {p.stem for p in TRAIN_CONFIGS}
    assert {"tiny_t5", "tiny_t5_lora", "smollm2_lora", "flan_t5_base_lora"} <= names
    assert {p.stem for p in ACCELERATE_CONFIGS} >= {"cpu", "single_gpu", "multi_gpu_ddp", "fsdp"}


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=lambda p: p.name)
def test_train_config_loads_and_validates(path):
    cfg = load_config(["--config", str(path)])
    assert isinstance(cfg, Config)
    # every key in the file landed on a field (load_config rejects unknown ones)
    raw = yaml.safe_load(path.read_text())
    for section, values in raw.items():
        for key, value in values.items():
            loaded = getattr(getattr(cfg, section), key)
            assert loaded == value or str(loaded) == str(value), f"{path.name}: {section}.{key}"
    if cfg.model.kind != "causal":
        assert cfg.train.mixed_precision != "fp16"


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=lambda p: p.name)
def test_accelerate_config_loads(path):
    cfg = ClusterConfig.from_yaml_file(str(path))
    assert cfg.num_processes >= 1
    assert cfg.mixed_precision in ("no", "bf16")  # fp16 overflows in T5


def test_cli_overrides_yaml_with_dotted_and_bare_names():
    cfg = load_config(
        ["--train.lr", "3e-4", "--epochs", "7", "--target_modules", "q,k", "--lora.enabled", "true"]
    )
    assert cfg.train.lr == 3e-4 and cfg.train.epochs == 7
    assert cfg.lora.target_modules == ["q", "k"] and cfg.lora.enabled is True
    cfg = load_config(["--push_to_hub", "--hub_model_id=me/model", "--lr=1"])
    assert cfg.hub.push_to_hub is True and cfg.hub.hub_model_id == "me/model" and cfg.train.lr == 1.0


def test_unknown_flag_names_the_field_and_suggests():
    with pytest.raises(ConfigError, match="unknown config field 'epoch'; did you mean .*epochs"):
        load_config(["--epoch", "3"])
    with pytest.raises(ConfigError, match="unknown config field 'learning_rate'"):
        load_config(["--learning_rate", "1e-3"])


def test_unknown_yaml_field_names_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lr: 0.1\n  epochz: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*epochz"):
        load_config(["--config", str(bad)])
    bad.write_text("trainer:\n  lr: 0.1\n")
    with pytest.raises(ConfigError, match="unknown section 'trainer'"):
        load_config(["--config", str(bad)])


def test_no_is_a_value_not_a_boolean(tmp_path):
    """YAML reads a bare ``no`` as false: the settings whose values include "no" still get "no"."""
    cfg = load_config(["--train.mixed-precision", "no", "--train.compile", "no"])
    assert cfg.train.mixed_precision == "no" and cfg.train.compile == "no"
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  mixed_precision: no\n  compile: no\n")
    cfg = load_config(["--config", str(path)])
    assert cfg.train.mixed_precision == "no" and cfg.train.compile == "no"
    with pytest.raises(ConfigError, match="soft_targets.*on/off read as YAML booleans"):
        load_config(["--train.soft-targets", "off"])


def test_auto_precision_is_bf16_where_the_hardware_multiplies_it(monkeypatch):
    from careerpath.training import training

    cfg = load_config([])
    assert cfg.train.mixed_precision == "auto"
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: True)
    assert training.resolve_mixed_precision(cfg, cpu=True) == "bf16"
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: False)
    assert training.resolve_mixed_precision(cfg, cpu=True) == "no"
    cfg.train.mixed_precision = "no"  # an explicit choice wins
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: True)
    assert training.resolve_mixed_precision(cfg, cpu=True) == "no"


def test_ambiguous_and_mistyped_values_fail():
    with pytest.raises(ConfigError, match="ambiguous.*lora.dropout"):
        load_config(["--dropout", "0.2"])
    with pytest.raises(ConfigError, match="train.epochs.*expected int"):
        load_config(["--epochs", "many"])
    with pytest.raises(ConfigError, match="fp16"):
        load_config(["--mixed_precision", "fp16"])
    with pytest.raises(ConfigError, match="hub_model_id"):
        load_config(["--push_to_hub"])


def test_validate_requires_model_name_for_pretrained():
    cfg = Config()
    cfg.model.kind = "seq2seq"
    with pytest.raises(ConfigError, match="model_name"):
        validate(cfg)


def test_help_lists_every_field(capsys):
    with pytest.raises(SystemExit):
        load_config(["--help"])
    out = capsys.readouterr().out
    for name in (  # one spelling on the command line: dashes (docs/cli.md)
        "--train.lr",
        "--lora.target-modules",
        "--hub.push-to-hub",
        "--train.resume-from-checkpoint",
    ):
        assert name in out
