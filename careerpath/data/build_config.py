"""The settings of ``careerpath data build``: :class:`DataConfig`, read from configs/data/*.yaml.

:func:`load_data_config` reads a YAML with command-line overrides and refuses unknown keys and bad
values by name; :func:`stats_config` is the part of it stats.json records (what decides the bytes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from careerpath.core.config import check_keys, read_yaml
from careerpath.core.context import ContextConfig
from careerpath.data.splits import SPLITS
from careerpath.data.synthesis import PreferenceType, SynthesisConfig


@dataclass
class DataConfig:
    """Settings of ``careerpath data build`` (configs/data/*.yaml)."""

    catalog: str | None = None
    """Catalog folder (CSV/JSON); empty for the bundled catalog."""
    split: dict[str, float] = field(default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1})
    """Share of users in each split; no user is in two splits."""
    n_next_jobs: int = 5
    """Next jobs per job in the transition graph."""
    n_courses_per_job: int = 10
    """Relevant courses listed per job."""
    fuzzy_threshold: float = 90.0
    """rapidfuzz ratio at or above which two skill names are merged as near-duplicates."""
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)
    """How synthetic users behave (see careerpath/data/synthesis.py)."""
    context: ContextConfig = field(default_factory=ContextConfig)
    """Catalog context in every input text: next step and candidate courses (careerpath/core/context.py)."""
    workers: int | None = None
    """Processes generating users (null: one per CPU core). The output is the same for any value
    (user i depends only on the seed and i); not written to stats.json."""
    batch_users: int = 256
    """Users generated together as one batch of arrays (more: faster, more memory). The output is
    the same for any value; not written to stats.json."""


def _section(raw: dict, name: str, cls, path) -> dict:
    """``raw[name]`` (popped), refusing keys ``cls`` does not have, by name."""
    values = dict(raw.pop(name, {}) or {})
    check_keys(values, cls, str(path), what=f"{name} key")
    return values


def load_data_config(path: str | Path | None, overrides: dict | None = None) -> DataConfig:
    """Read a data config YAML; unknown keys are an error naming the key."""
    raw = read_yaml(path) if path else {}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if "." in key:  # "synthesis.users" from --synthesis.users on the command line
            section, _, name = key.partition(".")
            target = raw.setdefault(section, {})
            if not isinstance(target, dict):
                raise ValueError(f"{path}: {section} is not a section; cannot set {key}")
            target[name] = value
        elif key in {f.name for f in fields(SynthesisConfig)}:
            raw.setdefault("synthesis", {})[key] = value
        else:
            raw[key] = value
    check_keys(raw, DataConfig, str(path))
    ctx = _section(raw, "context", ContextConfig, path)
    syn = _section(raw, "synthesis", SynthesisConfig, path)
    if "types" in syn:
        syn["types"] = tuple(PreferenceType(**t) for t in syn["types"])
    try:
        context = ContextConfig(**ctx)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    cfg = DataConfig(**raw, synthesis=SynthesisConfig(**syn), context=context)
    total = sum(cfg.split.values())
    if set(cfg.split) != set(SPLITS) or abs(total - 1.0) > 1e-6:
        raise ValueError(
            f"{path}: split must give train, validation and test shares summing to 1, got {cfg.split}"
        )
    if cfg.synthesis.users < 1:
        raise ValueError(f"{path}: synthesis.users must be at least 1")
    if cfg.workers is not None and (not isinstance(cfg.workers, int) or cfg.workers < 1):
        raise ValueError(f"{path}: workers must be a positive integer or null, got {cfg.workers!r}")
    if (
        not isinstance(cfg.batch_users, int)
        or isinstance(cfg.batch_users, bool)
        or not 1 <= cfg.batch_users <= 100_000
    ):
        raise ValueError(f"{path}: batch_users must be an integer in [1, 100000], got {cfg.batch_users!r}")
    return cfg


def stats_config(cfg: DataConfig) -> dict:
    """The config as stats.json records it: everything that decides the bytes (not ``workers``
    nor ``batch_users``)."""
    return _jsonable({k: v for k, v in asdict(cfg).items() if k not in ("workers", "batch_users")})


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj
