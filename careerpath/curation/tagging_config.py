"""Settings of skill tagging (``configs/data/tagging.yaml``; flags override): thresholds,
encoder, the neighbour model's features and weights, and the review file's columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from careerpath.core.config import bundled_config, dataclass_from_yaml

DEFAULT_CONFIG = "data/tagging.yaml"  # bundled: careerpath.core.config.bundled_config
REVIEW_COLUMNS = (
    "kind",
    "id",
    "title",
    "skill_id",
    "skill_name",
    "confidence",
    "method",
    "evidence",
    "existing",
    "accept",
)
YES = {"yes", "y", "true", "1", "accept", "x"}
NO = {"no", "n", "false", "0", "reject", ""}


NEIGHBOUR_FEATURES = (
    "vote_near",  # similarity**power-weighted share of the nearest tagged jobs that have the skill
    "vote",  # similarity-weighted share of a wider circle of tagged jobs that have it
    "transition",  # largest transition weight to/from a tagged job that has it
    "frequency",  # sqrt(share of all other tagged jobs that have it): generic skills
    "text",  # confidence of the job's own text match (name, alias, stem, embedding), else 0
    "course_nearest",  # 1 when the course closest to the job teaches it
    "course_sim",  # cosine of the job to the closest course that teaches it
    "course_rel",  # course_sim minus the job's cosine to its closest course overall
    "skill_sim",  # cosine of the job text to the skill name
)
# fitted on the tuning half of the bundled jobs (benchmarks/tagging.py --fit); see docs
DEFAULT_NEIGHBOUR_MODEL = {
    "intercept": -5.924,
    "vote_near": 2.248,
    "vote": 6.462,
    "transition": 2.575,
    "frequency": -1.741,
    "text": 2.282,
    "course_nearest": 0.996,
    "course_sim": 3.673,
    "course_rel": 2.154,
    "skill_sim": 1.532,
}


@dataclass
class TaggingConfig:
    """Settings of ``careerpath data tag`` (configs/data/tagging.yaml; flags override)."""

    threshold: float = 0.6
    """Proposals at or above this confidence are pre-accepted and count in the evaluation."""
    review_floor: float = 0.45
    """Weaker candidates down to this confidence are listed in the review file, accept left empty."""
    name_confidence: float = 0.95
    """Confidence of a whole-word match of the skill name."""
    alias_confidence: float = 0.9
    """Confidence of a whole-word match of an alias of four or more characters."""
    short_alias_confidence: float = 0.7
    """Confidence of a match of an alias of three characters or fewer (acronyms are ambiguous)."""
    partial_alias_confidence: float = 0.55
    """Confidence of an alias that is only part of the name ("Forecasting" for Financial Forecasting)."""
    stem_confidence: float = 0.85
    """Confidence of a match of two or more words up to inflection and order ("unit tests")."""
    stem_single_confidence: float = 0.55
    """Confidence of a one-word match up to inflection ("mentors" for Mentoring): often a plain word."""
    prerequisite_factor: float = 0.4
    """Confidence multiplier for mentions inside a prerequisite sentence ("Assumes familiarity with")."""
    context_min: float = 0.3
    """A word match whose skill is less similar than this to every sentence of the text is
    multiplied by ``context_factor`` ("algorithms" in a nursing course); needs embeddings."""
    context_factor: float = 0.6
    """Confidence multiplier for a word match out of context (see ``context_min``)."""
    embeddings: bool = True
    """Use sentence embeddings (else only word matches)."""
    encoder: str = "minilm"
    """``minilm`` (all-MiniLM-L6-v2) or ``hashing`` (bag of words, no model; for quick checks)."""
    embedding_min: float = 0.6
    """An embedding candidate needs at least this cosine similarity."""
    embedding_margin: float = 0.08
    """...and must be within this much of the item's best embedding similarity."""
    max_embedding: int = 3
    """At most this many embedding candidates per item."""
    embedding_fill_below: int = 1
    """Embedding candidates keep their full confidence only for items with fewer than this many word
    matches at or above ``threshold``: once the text names its skills, the nearest other skills are
    mostly related ones it does not teach (a Tableau course sits near Data Visualization)."""
    embedding_backup_factor: float = 0.7
    """Confidence multiplier for embedding candidates of items that already have word matches."""
    cache_dir: str = "outputs/cache/embeddings"
    """Where embeddings are cached (safetensors, keyed by text); empty for no cache."""
    batch_size: int = 64
    """Texts per encoder batch."""
    job_importance: float = 0.5
    """Importance given to a skill added to a job by apply-tags when the review row has none."""
    neighbours: bool = True
    """Also propose a job's skills from the rest of the catalog: similar jobs that are tagged, its
    career-step (transition) neighbours and the courses closest to it (see :func:`propose`)."""
    neighbour_min_jobs: int = 5
    """A job needs this many other tagged jobs for the neighbour method; else text only."""
    neighbour_near_k: int = 8
    """Nearest tagged jobs in the ``vote_near`` feature (weights similarity ** ``neighbour_power``)."""
    neighbour_power: float = 4.0
    """Exponent on the similarity weights of ``vote_near`` (sharpens towards the closest job)."""
    neighbour_k: int = 15
    """Nearest tagged jobs in the ``vote`` feature (weights: similarity)."""
    neighbour_title_weight: float = 0.5
    """Job similarity = cosine of "title; alt titles. description" + this x cosine of the titles..."""
    neighbour_description_weight: float = 0.5
    """... + this x cosine of the descriptions ..."""
    neighbour_transition_weight: float = 0.6
    """... + this x the weight of a transition between the two jobs (either direction) ..."""
    neighbour_level_weight: float = 0.1
    """... - this x the difference of their levels."""
    neighbour_cut: float = 0.25
    """Model probability that maps to ``threshold``: confidence = p / cut x threshold below it, and
    rises linearly from ``threshold`` at ``cut`` to 1 at p = 1 (F1-best cut, chosen on tuning jobs)."""
    neighbour_model: dict = field(default_factory=lambda: dict(DEFAULT_NEIGHBOUR_MODEL))
    """Logistic-regression weights (``intercept`` and one per name in ``NEIGHBOUR_FEATURES``)
    giving the probability that a job has a skill; fitted with ``benchmarks/tagging.py --fit``."""


def load_tagging_config(path: str | Path | None = None, overrides: dict | None = None) -> TaggingConfig:
    """Read a tagging config YAML (the default one when ``path`` is None); flags in ``overrides`` win."""
    path = Path(path) if path else bundled_config(DEFAULT_CONFIG)
    cfg = dataclass_from_yaml(TaggingConfig, path, overrides)
    for name in (
        "threshold",
        "review_floor",
        "prerequisite_factor",
        "context_factor",
        "embedding_backup_factor",
    ):
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            raise ValueError(f"{path}: {name} must be between 0 and 1, got {getattr(cfg, name)}")
    if not 0.0 < cfg.neighbour_cut < 1.0:
        raise ValueError(f"{path}: neighbour_cut must be between 0 and 1, got {cfg.neighbour_cut}")
    bad = sorted(set(cfg.neighbour_model) - {"intercept", *NEIGHBOUR_FEATURES})
    if bad:
        raise ValueError(
            f"{path}: neighbour_model has unknown key(s) {', '.join(bad)}; "
            f"known: intercept, {', '.join(NEIGHBOUR_FEATURES)}"
        )
    if cfg.encoder not in ("minilm", "hashing"):
        raise ValueError(f"{path}: encoder must be 'minilm' or 'hashing', got {cfg.encoder!r}")
    return cfg


# ---------------------------------------------------------------- encoders
