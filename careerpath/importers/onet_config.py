"""Settings of the O*NET import (``configs/data/onet_import.yaml``; flags override) and of
attaching courses to an imported catalog (shared with the ESCO importer), and their YAML loader."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from careerpath.core.config import check_keys, read_yaml
from careerpath.importers.onet_release import (
    SourceError,
)


@dataclass
class CourseConfig:
    """How courses are attached to an imported catalog (shared by the O*NET and ESCO importers)."""

    fuzzy_threshold: float = 92.0
    """rapidfuzz ratio for matching a course's own skill names to imported skill names."""
    text_match: bool = True
    """Also tag a course with imported skills whose name appears as whole words in its title/description."""
    text_match_min_chars: int = 4
    """Skill names shorter than this are not looked for in course text (too ambiguous)."""
    max_skills_per_course: int = 6
    """Most imported skills one re-tagged course teaches (own skills first, then title, then description)."""
    generate: bool = True
    """Generate a "Foundations of <skill>" course for every required skill no course teaches."""
    generated_hours: float = 12.0
    """Hours of a generated course."""


@dataclass
class OnetImportConfig:
    """Thresholds of ``careerpath data import-onet`` (configs/data/onet_import.yaml)."""

    min_importance: float = 3.5
    """Keep a Skills/Knowledge element for a job when its importance IM (1-5) is at least this."""
    min_level: float = 0.0
    """... and its level LV (0-7) is at least this."""
    level_weight: float = 0.5
    """importance = (1 - w) * (IM - 1) / 4 + w * LV / 7."""
    max_skills_per_job: int = 12
    """Most Skills/Knowledge elements per job (most important first)."""
    min_skills_per_job: int = 3
    """Jobs with fewer elements above the thresholds keep their top ones up to this many."""
    generic_share: float = 0.5
    """An element that passes ``min_importance`` for more than this share of the rated occupations
    is generic (held by most occupations: Active Listening, Speaking, Critical Thinking, Reading
    Comprehension, English Language, Customer and Personal Service in 29.3) ..."""
    generic_weight: float = 0.5
    """... and its importance is multiplied by this (0: generic elements are dropped), so that an
    occupation's distinguishing elements rank first and carry most of its weight."""
    tech: str = "hot"
    """Technology Skills examples kept: hot (Hot Technology or In Demand) | all | none."""
    max_tech_per_job: int = 4
    """Most technology skills per job (In Demand first, then Hot, then listed by most occupations)."""
    max_tech_share: float = 0.2
    """A technology example listed by more than this share of the occupations with technology rows
    does not distinguish one (Microsoft Excel: 93%, SAP: 31%, Microsoft Windows: 26%): dropped."""
    office_commodities: list[str] = field(
        default_factory=lambda: [
            "Spreadsheet software",
            "Office suite software",
            "Word processing software",
            "Electronic mail software",
            "Presentation software",
            "Internet browser software",
            "Calendar and scheduling software",
            "Document management software",
        ]
    )
    """Commodity titles of general office software: their examples become one "Office software" skill."""
    office_weight: float = 0.25
    """Importance of "Office software" for an occupation listing such an example as Hot or In
    Demand (0: dropped), below every distinguishing skill."""
    tech_importance: float = 0.45
    """Importance of a technology skill for a job ..."""
    tech_hot_bonus: float = 0.1
    """... plus this when it is a Hot Technology ..."""
    tech_in_demand_bonus: float = 0.15
    """... plus this when the job marks it In Demand (0.7 at most: below an occupation's top
    Skills/Knowledge elements, which O*NET rates on its own importance and level scales)."""
    max_alt_titles: int = 10
    """Alternate titles kept per job (shortest first, sanitised, duplicates dropped)."""
    tier_weights: dict[str, float] = field(
        default_factory=lambda: {"Primary-Short": 1.0, "Primary-Long": 0.6, "Supplemental": 0.3}
    )
    """Transition weight of each Related Occupations tier."""
    index_decay: float = 0.02
    """Weight multiplier 1 - index_decay * (Index - 1) within the related list (Index 1-20)."""
    max_related_per_job: int = 0
    """Keep only the first N related occupations per job by Index (0: all)."""
    mobility_max_per_job: int = 10
    """With --mobility: most transitions written per job (highest p(next job | job) first)."""
    mobility_l2: float = 0.01
    """With --mobility: L2 penalty of the transition model (careerpath/importers/mobility.py)."""
    mobility_embeddings: bool = True
    """With --mobility: use the MiniLM title-similarity feature (skipped when the model is not installed)."""
    courses: CourseConfig = field(default_factory=CourseConfig)
    """How courses are attached (re-tagging, generated courses)."""


def load_import_config(
    cls, path: str | Path | None, sets: list[str] | None = None, overrides: dict | None = None
):
    """Read an importer config YAML, apply ``KEY=VALUE`` items and ``{"KEY": value}`` overrides
    (``courses.KEY`` for nested; on the command line ``--courses.generate false``)."""
    raw = read_yaml(path) if path else {}
    items = []
    for item in sets or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SourceError(f"--set {item!r}: expected KEY=VALUE; better: --min-importance 3.0")
        items.append((key.strip(), yaml.safe_load(value)))
    known = {f.name for f in fields(cls)}
    for key in overrides or {}:
        if key.split(".")[0] not in known:
            flag = "--" + key.replace("_", "-")
            raise SourceError(f"{flag}: not a key of the import config; known: {', '.join(sorted(known))}")
    for key, value in [*items, *(overrides or {}).items()]:
        target = raw
        *parents, leaf = key.split(".")
        for p in parents:
            target = target.setdefault(p, {})
        target[leaf] = value
    return _dataclass_from(cls, raw, str(path or "config"))


def _dataclass_from(cls, raw: dict, where: str):
    check_keys(raw, cls, where)
    kwargs = {}
    for name, value in raw.items():
        if name == "courses":
            kwargs[name] = _dataclass_from(CourseConfig, value or {}, f"{where}: courses")
        else:
            kwargs[name] = value
    return cls(**kwargs)
