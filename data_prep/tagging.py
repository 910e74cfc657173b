"""Semi-automated skill tagging: propose skills for courses and jobs, review them, merge the accepted.

``careerpath data tag --catalog DIR --out review.csv`` reads each course's and job's title and
description (never the item's own existing tags) and proposes skills from the catalog's taxonomy by three
methods, strongest first:

* ``name`` / ``alias``: the skill name or one of its aliases appears in the text as whole words
  (word boundaries; names of three characters or fewer, like "R", "Go", "UI", must match with
  their case, since "go" and "ui" are also plain words or parts of other terms);
* ``stem``: the same words up to simple inflection and order ("unit tests" -> Unit Testing,
  "handle objections" -> Objection Handling);
* ``embedding``: a sentence or phrase of the text is close to the skill name in all-MiniLM-L6-v2
  space (cosine similarity; batched, cached on disk by :class:`careerpath.embeddings.Embedder`).

Jobs (``neighbours``, default on): a job's one-sentence description names few of its skills, so
its text matches are combined with the rest of the catalog: the skills of the most similar *other*
tagged jobs, of its career-step (transition) neighbours and of the closest courses, through a small
logistic model; the evidence names those jobs and courses. A job's own tags are never used for it.

Mentions inside a prerequisite sentence ("Assumes familiarity with SQL.") name what a course needs,
not what it teaches, so their confidence is scaled down. Each proposal has a confidence in [0, 1]
and the evidence (the matching words, or the closest sentence). Proposals at or above
``threshold`` are pre-accepted in the review file; weaker candidates down to ``review_floor`` are
listed with an empty accept cell for a person to decide. ``careerpath data apply-tags review.csv
--catalog DIR`` merges the accepted rows into the catalog.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import tempfile
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from careerpath.atomic import atomic_dir
from careerpath.config import bundled_config, dataclass_from_yaml
from data_prep.catalog import BUNDLED_DIR, Catalog, CatalogError, Course, Job, load_catalog
from data_prep.cleaning import KNOWN_ALIASES, name_key

DEFAULT_CONFIG = "data/tagging.yaml"  # bundled: careerpath.config.bundled_config
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


class Encoder(Protocol):
    """Anything with ``embed(texts) -> [n, d]`` unit vectors (MiniLM, or a tiny one in tests)."""

    def embed(self, texts: list[str]) -> np.ndarray: ...


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


class HashingEncoder:
    """Bag-of-stems hashed into ``dim`` buckets: a model-free stand-in for tests and quick checks."""

    def __init__(self, dim: int = 1024):
        self.dim = dim

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for tok in tokens(text):
                out[i, _stable_hash(stem(tok)) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


def _stable_hash(text: str) -> int:
    h = 2166136261
    for ch in text.encode("utf-8"):
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h


def make_encoder(cfg: TaggingConfig) -> Encoder | None:
    if not cfg.embeddings:
        return None
    if cfg.encoder == "hashing":
        return HashingEncoder()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from careerpath.embeddings import Embedder

    return Embedder(cache_dir=cfg.cache_dir or None, batch_size=cfg.batch_size)


# ---------------------------------------------------------------- text helpers

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#.]*[A-Za-z0-9+#]|[A-Za-z0-9]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
_PHRASE = re.compile(r"\s*(?:[,;:()]|\band\b|\bwith\b|\bthen\b)\s*")
_PREREQ = re.compile(
    r"\b(assumes?|requires?|required|prerequisites?|prior (knowledge|experience)|familiarity with|"
    r"you should (already )?know|for (people|those|learners) who (already )?(know|use))\b",
    re.IGNORECASE,
)
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ers", "er", "es", "ed", "s")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens; ``c++``, ``c#`` and ``node.js`` stay whole."""
    return [t.lower() for t in _TOKEN.findall(text)]


def stem(word: str) -> str:
    """A crude suffix stripper: it only has to map inflections of one word to the same key."""
    w = word.lower()
    if len(w) <= 3 or not w.isalpha():
        return w
    for suf in _SUFFIXES:
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            if suf == "s" and w[-2] in "siu":  # process, analysis, status
                break
            base = w[: -len(suf)]
            if suf in ("ies", "ied"):
                base += "y"
            elif len(base) > 3 and base[-1] == base[-2] and base[-1] not in "s":
                base = base[:-1]  # planning -> plan, modelling -> model
            w = base
            break
    return w[:-1] if w.endswith("e") and len(w) > 4 else w


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def phrases(sentence: str) -> list[str]:
    parts = [p.strip(" .!?") for p in _PHRASE.split(sentence)]
    return [p for p in parts if len(p.split()) >= 2]  # one word alone ("testing") matches too much


def is_prerequisite_sentence(sentence: str) -> bool:
    return bool(_PREREQ.search(sentence))


def item_text(item: Course | Job) -> tuple[str, list[str]]:
    """(title line, description sentences) of a course or job; a job's alternative titles count."""
    if isinstance(item, Job):
        title = "; ".join((item.title, *item.alt_titles))
    else:
        title = item.title
    return title, sentences(item.description)


# ---------------------------------------------------------------- word matching


@dataclass(frozen=True)
class Surface:
    skill_id: str
    text: str
    method: str  # "name" or "alias"
    pattern: re.Pattern
    stems: tuple[str, ...]
    partial: bool  # an alias that is only part of the name ("Monitoring" for Monitoring and Observability)


def skill_surfaces(catalog: Catalog) -> list[Surface]:
    """Every name and alias of every skill (plus known abbreviations), compiled for matching."""
    out = []
    by_key = {name_key(s.name): s.id for s in catalog.skills.values()}
    extra: dict[str, list[str]] = {}
    for alias, canonical in KNOWN_ALIASES.items():
        sid = by_key.get(name_key(canonical))
        if sid:
            extra.setdefault(sid, []).append(alias.upper() if len(alias) <= 3 else alias)
    for s in catalog.skills.values():
        seen = set()
        name_stems = {stem(t) for t in tokens(s.name)}
        for text, method in [(s.name, "name"), *((a, "alias") for a in (*s.aliases, *extra.get(s.id, ())))]:
            key = text if len(text) <= 3 else text.lower()
            if key in seen or not text.strip():
                continue
            seen.add(key)
            short = len(text) <= 3
            # short names are matched with their case and may not touch - & / ("go-to-market", "R&D", "CI/CD")
            edge = r"[\w+#&/-]" if short else r"[\w+#]"
            pattern = re.compile(rf"(?<!{edge}){re.escape(text)}(?!{edge})", 0 if short else re.IGNORECASE)
            stems = tuple(stem(t) for t in tokens(text))
            partial = method == "alias" and set(stems) < name_stems
            out.append(Surface(s.id, text, method, pattern, stems, partial))
    return out


@dataclass
class Proposal:
    kind: str  # "course" or "job"
    item_id: str
    skill_id: str
    confidence: float
    method: str  # name, alias, stem, embedding (+ ", prerequisite" when from a prerequisite sentence)
    evidence: str


def _word_matches(text: str, prereq: bool, surfaces: list[Surface], cfg: TaggingConfig) -> dict:
    """Best word match per skill in one sentence: ``{skill_id: (confidence, method, evidence)}``.

    A stretch of words counts for one skill only: exact matches beat stem matches, longer beat
    shorter, in-order beats reordered ("Power BI" is not also "BI"; "System Design" is not also
    "Design Systems").
    """
    toks = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    stems = [stem(text[a:b]) for a, b in toks]
    cands = []
    for sf in surfaces:
        for m in sf.pattern.finditer(text):
            if sf.method == "name":
                conf = cfg.name_confidence
            elif sf.partial:
                conf = cfg.partial_alias_confidence
            elif len(sf.text) <= 3:
                conf = cfg.short_alias_confidence
            else:
                conf = cfg.alias_confidence
            cands.append((0, m.start() - m.end(), m.start(), m.end(), sf.skill_id, conf, sf.method))
        n = len(sf.stems)
        if len(sf.text) <= 3 or n == 0:
            continue
        want = sorted(sf.stems)
        for i in range(len(stems) - n + 1):
            if sorted(stems[i : i + n]) == want:
                in_order = tuple(stems[i : i + n]) == sf.stems
                conf = cfg.stem_confidence if n > 1 and not sf.partial else cfg.stem_single_confidence
                a, b = toks[i][0], toks[i + n - 1][1]
                cands.append((1 if in_order else 2, a - b, a, b, sf.skill_id, conf, "stem"))
    found: dict[str, tuple[float, str, str]] = {}
    taken: list[tuple[int, int, str]] = []
    for _, _, a, b, sid, conf, method in sorted(cands):
        if any(a < tb and ta < b and tsid != sid for ta, tb, tsid in taken):
            continue
        taken.append((a, b, sid))
        if prereq:
            conf, method = conf * cfg.prerequisite_factor, method + ", prerequisite"
        if conf > found.get(sid, (-1.0,))[0]:
            found[sid] = (conf, method, text[a:b])
    return found


# ---------------------------------------------------------------- proposing


def _items(catalog: Catalog, kinds: Iterable[str]) -> list[tuple[str, Course | Job]]:
    out: list[tuple[str, Course | Job]] = []
    if "course" in kinds:
        out += [("course", c) for c in catalog.courses.values()]
    if "job" in kinds:
        out += [("job", j) for j in catalog.jobs.values()]
    return out


def propose(
    catalog: Catalog,
    cfg: TaggingConfig,
    encoder: Encoder | None = None,
    kinds: Iterable[str] = ("course", "job"),
    floor: float | None = None,
    job_tags: dict[str, Iterable[str]] | None = None,
) -> list[Proposal]:
    """Skill proposals for every course and job with confidence >= ``floor`` (``cfg.review_floor``).

    Courses: read only from their title and description (never their tags), so the result can be
    scored against the tags (:func:`evaluate`). Jobs: the same text matches, and (``cfg.neighbours``)
    the rest of the catalog: the tags of the *other* jobs in ``job_tags`` (default: the catalog's
    job tags), the transitions and the tagged courses, combined with the text by a logistic model
    (:func:`neighbour_features`). A job's own tags are never used for that job, so this is a
    leave-one-out estimate when scored against them; ``job_tags={}`` hides all job tags.
    """
    floor = cfg.review_floor if floor is None else floor
    kinds = tuple(kinds)
    surfaces = skill_surfaces(catalog)
    items = _items(catalog, kinds)
    parsed = []
    for kind, item in items:
        title, sents = item_text(item)
        units = [(title, False)] + [(s, is_prerequisite_sentence(s)) for s in sents]
        parsed.append((kind, item, units))
    use_neighbours = cfg.neighbours and "job" in kinds and len(catalog.jobs) > 1
    extra = _neighbour_texts(catalog) if use_neighbours else []
    vec: dict[str, np.ndarray] = {}
    sims = None
    if encoder is not None:
        sims, vec = _embedding_scores(catalog, parsed, encoder, extra)
    elif extra:
        unique = list(dict.fromkeys(extra))
        vec = dict(zip(unique, HashingEncoder().embed(unique)))  # bag of words stands in for MiniLM
    proposals: list[Proposal] = []
    text_of_job: dict[str, dict[str, tuple[float, str, str]]] = {}
    col = {sid: j for j, sid in enumerate(catalog.skills)}
    skill_ids = list(catalog.skills)
    for n, (kind, item, units) in enumerate(parsed):
        words: dict[str, tuple[float, str, str]] = {}
        for text, prereq in units:
            for sid, hit in _word_matches(text, prereq, surfaces, cfg).items():
                if hit[0] > words.get(sid, (-1.0,))[0]:
                    words[sid] = hit
        best: dict[str, tuple[float, str, str]] = {}
        if sims is not None:
            score, evidence = sims[n]
            for sid, (conf, method, ev) in words.items():
                if score[col[sid]] < cfg.context_min and "prerequisite" not in method:
                    conf, method = conf * cfg.context_factor, method + ", out of context"
                best[sid] = (conf, method, ev)
            top = float(score.max()) if len(score) else 0.0
            named = sum(conf >= cfg.threshold - 1e-9 for conf, _, _ in best.values())
            factor = cfg.embedding_backup_factor if named >= cfg.embedding_fill_below else 1.0
            for j in np.argsort(-score)[: cfg.max_embedding]:
                s = float(score[j])
                if s < cfg.embedding_min - 1e-9 or s < top - cfg.embedding_margin - 1e-9:
                    break
                sid = skill_ids[j]
                if sid not in best:
                    best[sid] = (s * factor, "embedding", evidence[j])
        else:
            best = dict(words)
        if kind == "job":
            text_of_job[item.id] = best
        for sid, (conf, method, ev) in sorted(best.items(), key=lambda kv: -kv[1][0]):
            if conf >= floor - 1e-9:
                proposals.append(Proposal(kind, item.id, sid, round(conf, 4), method, ev))
    if not use_neighbours:
        return proposals
    tags = {j.id: set(j.skills) for j in catalog.jobs.values()} if job_tags is None else job_tags
    tags = {jid: set(sids) & set(catalog.skills) for jid, sids in tags.items() if jid in catalog.jobs}
    feats = neighbour_features(catalog, cfg, vec, text_of_job, tags)
    replaced = set(feats)
    proposals = [p for p in proposals if not (p.kind == "job" and p.item_id in replaced)]
    for job_id, nf in feats.items():
        conf = neighbour_confidence(nf.matrix, cfg)
        for j in np.argsort(-conf, kind="stable"):
            if conf[j] < floor - 1e-9:
                break
            sid = skill_ids[j]
            text_hit = text_of_job[job_id].get(sid)
            method = f"{text_hit[1]} + neighbours" if text_hit else "neighbours"
            ev = nf.evidence(catalog, j, text_hit, _neighbour_probability(nf.matrix[j], cfg))
            proposals.append(Proposal("job", job_id, sid, round(float(conf[j]), 4), method, ev))
    return proposals


# ---------------------------------------------------------------- job neighbours


def _job_texts(job: Job) -> tuple[str, str, str]:
    """(full, title, description) texts of a job for the neighbour similarity."""
    full = f"{'; '.join((job.title, *job.alt_titles))}. {job.description}".strip()
    return full, job.title, job.description or job.title


def _course_text(course: Course) -> str:
    return f"{course.title}. {course.description}".strip()


def _neighbour_texts(catalog: Catalog) -> list[str]:
    out = [t for j in catalog.jobs.values() for t in _job_texts(j)]
    out += [_course_text(c) for c in catalog.courses.values()]
    return out + [s.name for s in catalog.skills.values()]


@dataclass
class NeighbourFeatures:
    """One job's features against every skill (``matrix[skill, feature]``) and what they rest on."""

    matrix: np.ndarray  # [n_skills, len(NEIGHBOUR_FEATURES)]
    near: list[tuple[str, float]]  # the nearest tagged jobs (id, similarity), nearest first
    have: list[set[str]]  # skills of each job in ``near``
    steps: list[tuple[str, float, set[str]]]  # tagged transition neighbours (id, weight, skills)
    course_of: np.ndarray  # per skill: index of the closest course teaching it, -1 if none
    course_cos: np.ndarray  # per course: cosine to the job
    skill_ids: list[str]

    def evidence(self, catalog: Catalog, j: int, text_hit, p: float) -> str:
        """Human-readable reasons for skill ``j``: which similar jobs, career steps, course, text."""
        sid = self.skill_ids[j]
        parts = []
        if text_hit:
            parts.append(f"text: {text_hit[2]!r}")
        holders = [(jid, s) for (jid, s), h in zip(self.near, self.have) if sid in h]
        if holders:
            shown = ", ".join(f"{catalog.jobs[jid].title} ({s:.2f})" for jid, s in holders[:3])
            more = f" +{len(holders) - 3}" if len(holders) > 3 else ""
            parts.append(f"{len(holders)} of {len(self.near)} similar jobs have it: {shown}{more}")
        else:
            parts.append(f"none of {len(self.near)} similar jobs has it")
        steps = [catalog.jobs[jid].title for jid, _, h in self.steps if sid in h]
        if steps:
            many = len(steps) > 1
            names = ", ".join(steps[:3]) + (f" +{len(steps) - 3}" if len(steps) > 3 else "")
            parts.append(f"career step{'s' if many else ''} {names} {'have' if many else 'has'} it")
        c = int(self.course_of[j])
        if c >= 0:
            course = list(catalog.courses.values())[c]
            parts.append(f"closest course teaching it: {course.title} ({self.course_cos[c]:.2f})")
        parts.append(f"p={p:.2f}")
        return "; ".join(parts)


def neighbour_features(
    catalog: Catalog,
    cfg: TaggingConfig,
    vec: dict[str, np.ndarray],
    text_of_job: dict[str, dict[str, tuple[float, str, str]]],
    job_tags: dict[str, set[str]],
) -> dict[str, NeighbourFeatures]:
    """Features of every job in ``text_of_job`` that has at least ``cfg.neighbour_min_jobs`` *other*
    tagged jobs in ``job_tags``; the job's own entry in ``job_tags`` is never read for it."""
    jobs = list(catalog.jobs.values())
    skill_ids = list(catalog.skills)
    col = {sid: i for i, sid in enumerate(skill_ids)}
    m = len(skill_ids)
    full, title, desc = (np.stack([vec[_job_texts(j)[k]] for j in jobs]) for k in range(3))
    sim = full @ full.T
    sim += cfg.neighbour_title_weight * (title @ title.T)
    sim += cfg.neighbour_description_weight * (desc @ desc.T)
    levels = np.array([j.level for j in jobs], np.float32)
    sim -= cfg.neighbour_level_weight * np.abs(levels[:, None] - levels[None, :])
    idx = {j.id: i for i, j in enumerate(jobs)}
    edge = np.zeros((len(jobs), len(jobs)), np.float32)
    for t in catalog.transitions:
        if t.from_job in idx and t.to_job in idx:
            a, b = idx[t.from_job], idx[t.to_job]
            edge[a, b] = edge[b, a] = max(edge[a, b], t.weight)
    sim += cfg.neighbour_transition_weight * edge
    Y = np.zeros((len(jobs), m), np.float32)
    tagged = np.zeros(len(jobs), bool)
    for jid, sids in job_tags.items():
        if sids:
            tagged[idx[jid]] = True
            Y[idx[jid], [col[s] for s in sids]] = 1.0
    courses = list(catalog.courses.values())
    course_vec = np.stack([vec[_course_text(c)] for c in courses]) if courses else np.zeros((0, 1))
    teaches = np.zeros((len(courses), m), bool)
    for i, c in enumerate(courses):
        teaches[i, [col[s] for s in c.skills if s in col]] = True
    skill_vec = np.stack([vec[s.name] for s in catalog.skills.values()])
    out = {}
    for job_id, text in text_of_job.items():
        a = idx[job_id]
        others = np.flatnonzero(tagged & (np.arange(len(jobs)) != a))  # never the job itself
        if len(others) < max(cfg.neighbour_min_jobs, 1):
            continue
        order = others[np.argsort(-sim[a, others], kind="stable")]
        X = np.zeros((m, len(NEIGHBOUR_FEATURES)), np.float32)
        near = order[: cfg.neighbour_near_k]
        w = np.maximum(sim[a, near], 0.0) ** cfg.neighbour_power
        X[:, 0] = w @ Y[near] / max(float(w.sum()), 1e-9)
        wide = order[: cfg.neighbour_k]
        w = np.maximum(sim[a, wide], 0.0)
        X[:, 1] = w @ Y[wide] / max(float(w.sum()), 1e-9)
        steps = [b for b in others if edge[a, b] > 0]
        if steps:
            X[:, 2] = (edge[a, steps][:, None] * Y[steps]).max(0)
        X[:, 3] = np.sqrt(Y[others].mean(0))
        for sid, (conf, _, _) in text.items():
            X[col[sid], 4] = conf
        course_of = np.full(m, -1)
        cos = course_vec @ full[a] if len(courses) else np.zeros(0)
        if len(courses):
            X[:, 5] = teaches[int(cos.argmax())]
            masked = np.where(teaches, cos[:, None], -np.inf)  # [courses, skills]
            best = masked.argmax(0)
            has = teaches.any(0)
            course_of = np.where(has, best, -1)
            X[has, 6] = cos[best[has]]
            X[has, 7] = cos[best[has]] - cos.max()
        X[:, 8] = skill_vec @ full[a]
        out[job_id] = NeighbourFeatures(
            X,
            [(jobs[b].id, float(full[a] @ full[b])) for b in near],  # shown: text cosine
            [set(np.asarray(skill_ids)[Y[b] > 0]) for b in near],
            [(jobs[b].id, float(edge[a, b]), set(np.asarray(skill_ids)[Y[b] > 0])) for b in steps],
            course_of,
            cos,
            skill_ids,
        )
    return out


def _model_vector(cfg: TaggingConfig) -> tuple[float, np.ndarray]:
    model = cfg.neighbour_model
    return float(model.get("intercept", 0.0)), np.array(
        [float(model.get(f, 0.0)) for f in NEIGHBOUR_FEATURES], np.float32
    )


def _neighbour_probability(x: np.ndarray, cfg: TaggingConfig) -> np.ndarray:
    b0, w = _model_vector(cfg)
    return 1.0 / (1.0 + np.exp(-(np.asarray(x) @ w + b0)))


def neighbour_confidence(matrix: np.ndarray, cfg: TaggingConfig) -> np.ndarray:
    """Model probability mapped onto the confidence scale: ``neighbour_cut`` lands on ``threshold``."""
    p = _neighbour_probability(matrix, cfg)
    cut, t = cfg.neighbour_cut, cfg.threshold
    return np.where(p < cut, p / cut * t, t + (p - cut) / (1.0 - cut) * (1.0 - t))


def fit_neighbour_model(
    catalog: Catalog, cfg: TaggingConfig, encoder: Encoder | None, job_ids: Iterable[str], c: float = 1.0
) -> tuple[dict[str, float], float]:
    """Fit the logistic weights on ``job_ids`` (each scored leave-one-out) and the F1-best cut.

    Returns ``(neighbour_model, neighbour_cut)`` for a tagging YAML. Only these jobs' tags are the
    targets; their features use every other job's tags, as :func:`propose` does.
    """
    from sklearn.linear_model import LogisticRegression

    job_ids = list(job_ids)
    # text confidences of every candidate (floor 0) for the chosen jobs, without the neighbour step
    text_cfg = replace(cfg, neighbours=False)
    props = propose(catalog, text_cfg, encoder, ("job",), floor=0.0)
    text_of_job: dict[str, dict] = {jid: {} for jid in job_ids}
    for p in props:
        if p.item_id in text_of_job:
            text_of_job[p.item_id][p.skill_id] = (p.confidence, p.method, p.evidence)
    texts = list(dict.fromkeys(_neighbour_texts(catalog)))
    enc = encoder if encoder is not None else HashingEncoder()
    vec = dict(zip(texts, np.asarray(enc.embed(texts), np.float32)))
    tags = {j.id: set(j.skills) for j in catalog.jobs.values()}
    feats = neighbour_features(catalog, cfg, vec, text_of_job, tags)
    col = {sid: i for i, sid in enumerate(catalog.skills)}
    X, y = [], []
    for jid, nf in feats.items():
        X.append(nf.matrix)
        t = np.zeros(len(col), np.float32)
        t[[col[s] for s in catalog.jobs[jid].skills]] = 1.0
        y.append(t)
    X, y = np.concatenate(X), np.concatenate(y)
    lr = LogisticRegression(C=c, max_iter=5000).fit(X, y)
    model = {"intercept": round(float(lr.intercept_[0]), 3)}
    model.update({f: round(float(v), 3) for f, v in zip(NEIGHBOUR_FEATURES, lr.coef_[0])})
    p = _neighbour_probability(X, replace(cfg, neighbour_model=model))
    best_cut, best_f1 = 0.5, -1.0
    for cut in np.arange(0.05, 0.951, 0.025):
        pred = p >= cut
        tp = float((pred & (y > 0)).sum())
        f1 = 2 * tp / max(float(pred.sum()) + float(y.sum()), 1.0)
        if f1 > best_f1 + 1e-12:
            best_cut, best_f1 = round(float(cut), 3), f1
    return model, best_cut


def _embedding_scores(catalog: Catalog, parsed, encoder: Encoder, extra: list[str] = ()):
    """Per item: max cosine of each skill (name or long alias) to any sentence or phrase, and which.

    Also embeds ``extra`` texts in the same (single) encoder call; returns ``(scores, {text: vec})``.
    """
    skill_ids = list(catalog.skills)
    surf_text, surf_skill = [], []
    for j, s in enumerate(catalog.skills.values()):
        for text in (s.name, *(a for a in s.aliases if len(a) > 3)):
            surf_text.append(text)
            surf_skill.append(j)
    chunks_per_item = []
    for _, _, units in parsed:
        chunks = []
        for text, prereq in units:
            if prereq:
                continue
            chunks.append(text)
            chunks += [p for p in phrases(text) if p != text]
        chunks_per_item.append(list(dict.fromkeys(chunks)) or [units[0][0]])
    unique = list(dict.fromkeys([*surf_text, *(c for cs in chunks_per_item for c in cs), *extra]))
    vecs = np.asarray(encoder.embed(unique), dtype=np.float32)
    row = {t: i for i, t in enumerate(unique)}
    surf = vecs[[row[t] for t in surf_text]]
    surf_skill = np.asarray(surf_skill)
    out = []
    for chunks in chunks_per_item:
        sim = vecs[[row[c] for c in chunks]] @ surf.T  # [chunks, surfaces]
        best_chunk = sim.argmax(0)
        best_surf = sim.max(0)
        score = np.full(len(skill_ids), -1.0, np.float32)
        which = np.zeros(len(skill_ids), np.int64)
        for k, j in enumerate(surf_skill):
            if best_surf[k] > score[j]:
                score[j], which[j] = best_surf[k], best_chunk[k]
        out.append((score, [chunks[i] for i in which]))
    return out, {t: vecs[row[t]] for t in extra}


# ---------------------------------------------------------------- evaluation


def gold_tags(catalog: Catalog, kinds: Iterable[str] = ("course", "job")) -> set[tuple[str, str, str]]:
    """The catalog's own tags as ``(kind, item_id, skill_id)``: the answers an evaluation hides."""
    out = set()
    for kind, item in _items(catalog, kinds):
        out |= {(kind, item.id, sid) for sid in item.skills}
    return out


def evaluate(
    proposals: list[Proposal], gold: set[tuple[str, str, str]], threshold: float
) -> dict[str, float]:
    """Micro precision, recall and F1 of the proposals at or above ``threshold`` against ``gold``."""
    pred = {(p.kind, p.item_id, p.skill_id) for p in proposals if p.confidence >= threshold - 1e-9}
    tp = len(pred & gold)
    precision = tp / len(pred) if pred else 0.0
    recall = tp / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "proposed": len(pred),
        "gold": len(gold),
        "correct": tp,
    }


def evaluate_tagging(
    catalog: Catalog,
    cfg: TaggingConfig,
    encoder: Encoder | None = None,
    kinds: Iterable[str] = ("course", "job"),
    thresholds: Iterable[float] = (),
    job_tags: dict[str, Iterable[str]] | None = None,
    job_groups: dict[str, Iterable[str]] | None = None,
) -> dict:
    """Hide-existing evaluation: propose without looking at the tags, then score against them.

    Course tags are hidden from the courses. Jobs: with ``cfg.neighbours`` each job sees the other
    jobs' tags (``job_tags``, default the catalog's; leave-one-out) and the course tags, never its
    own; ``cfg.neighbours=False`` or ``job_tags={}`` is text only. Returns ``{group: {threshold:
    metrics}}`` for each kind, ``"all"`` and each named subset of jobs in ``job_groups``, at
    ``cfg.threshold`` and each of ``thresholds``, plus the proposing time in seconds.
    """
    kinds = tuple(kinds)
    ts = sorted({cfg.threshold, *thresholds})
    start = time.perf_counter()
    floor = min(ts + [cfg.review_floor])
    proposals = propose(catalog, cfg, encoder, kinds, floor=floor, job_tags=job_tags)
    seconds = time.perf_counter() - start
    result: dict = {"seconds": seconds, "threshold": cfg.threshold}
    for group in (*kinds, "all"):
        gk = kinds if group == "all" else (group,)
        gold = gold_tags(catalog, gk)
        props = [p for p in proposals if p.kind in gk]
        result[group] = {t: evaluate(props, gold, t) for t in ts}
    gold_jobs = gold_tags(catalog, ("job",))
    for name, ids in (job_groups or {}).items():
        ids = set(ids)
        gold = {g for g in gold_jobs if g[1] in ids}
        props = [p for p in proposals if p.kind == "job" and p.item_id in ids]
        result[name] = {t: evaluate(props, gold, t) for t in ts}
    return result


def tuning_split(catalog: Catalog) -> tuple[list[str], list[str]]:
    """Jobs split in two by a stable hash of the id: (tuning half A, held-out half B)."""
    a = [jid for jid in catalog.jobs if zlib.crc32(jid.encode("utf-8")) % 2 == 0]
    return a, [jid for jid in catalog.jobs if jid not in set(a)]


# ---------------------------------------------------------------- review file


def review_rows(catalog: Catalog, proposals: list[Proposal], cfg: TaggingConfig, hide_existing: bool):
    """Rows of the review CSV; ``accept`` is ``yes`` for new tags at or above the threshold."""
    rows = []
    for p in proposals:
        item = catalog.courses[p.item_id] if p.kind == "course" else catalog.jobs[p.item_id]
        existing = p.skill_id in item.skills
        if existing and hide_existing:
            continue
        accept = "yes" if p.confidence >= cfg.threshold - 1e-9 and not existing else ""
        rows.append(
            {
                "kind": p.kind,
                "id": p.item_id,
                "title": item.title,
                "skill_id": p.skill_id,
                "skill_name": catalog.skills[p.skill_id].name,
                "confidence": f"{p.confidence:.3f}",
                "method": p.method,
                "evidence": p.evidence,
                "existing": "yes" if existing else "no",
                "accept": accept,
            }
        )
    return rows


def write_review(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=REVIEW_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_accepted(path: Path, catalog: Catalog) -> list[tuple[str, str, str, float | None]]:
    """Accepted ``(kind, item_id, skill_id, importance)`` rows of a review CSV; every bad row is named."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: review file not found; make one with `careerpath data tag`")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("kind", "id", "skill_id", "accept") if c not in (reader.fieldnames or [])]
        if missing:
            raise CatalogError([f"{path.name}: missing column(s) {', '.join(missing)}; keep the header"])
        rows = list(reader)
    problems, accepted = [], []
    for line, row in enumerate(rows, start=2):
        where = f"{path.name} row {line}"
        decision = (row.get("accept") or "").strip().lower()
        if decision not in YES | NO:
            problems.append(
                f"{where}, field 'accept': {row.get('accept')!r} is not yes or no; leave it empty"
            )
            continue
        if decision in NO:
            continue
        kind, item_id = (row.get("kind") or "").strip(), (row.get("id") or "").strip()
        table = {"course": catalog.courses, "job": catalog.jobs}.get(kind)
        if table is None:
            problems.append(f"{where}, field 'kind': {kind!r} must be course or job")
            continue
        if item_id not in table:
            problems.append(f"{where}, field 'id': unknown {kind} {item_id!r}; use an id from {kind}s")
            continue
        raw_skill = (row.get("skill_id") or "").strip()
        sid = raw_skill if raw_skill in catalog.skills else catalog.skill_index.resolve(raw_skill, False)[0]
        if sid is None:
            hint = catalog.skill_index.suggest(raw_skill)
            did = f" (did you mean {', '.join(repr(h) for h in hint)}?)" if hint else ""
            problems.append(f"{where}, field 'skill_id': unknown skill {raw_skill!r}{did}; use a skill id")
            continue
        importance = None
        raw_imp = (row.get("importance") or "").strip()
        if raw_imp:
            try:
                importance = float(raw_imp)
            except ValueError:
                importance = -1.0
            if not 0.0 <= importance <= 1.0:
                problems.append(f"{where}, field 'importance': {raw_imp!r} must be a number in [0, 1]")
                continue
        accepted.append((kind, item_id, sid, importance))
    if problems:
        raise CatalogError(problems)
    return accepted


def apply_tags(
    catalog: Catalog, accepted: list[tuple[str, str, str, float | None]], job_importance: float = 0.5
) -> tuple[Catalog, int]:
    """A new catalog with the accepted tags added (existing tags are kept); and how many were new."""
    courses, jobs = dict(catalog.courses), dict(catalog.jobs)
    added = 0
    for kind, item_id, sid, importance in accepted:
        if kind == "course":
            c = courses[item_id]
            if sid not in c.skills:
                prereq = tuple(p for p in c.prerequisites if p != sid)  # taught now, no longer required
                courses[item_id] = replace(c, skills=(*c.skills, sid), prerequisites=prereq)
                added += 1
        else:
            j = jobs[item_id]
            if sid not in j.skills:
                jobs[item_id] = replace(j, skills={**j.skills, sid: importance or job_importance})
                added += 1
    new = Catalog(catalog.skills, courses, jobs, catalog.transitions, catalog.merges, catalog.source)
    return new, added


def save_catalog_atomic(catalog: Catalog, out_dir: Path) -> None:
    """Write the catalog as CSV into a temporary folder beside ``out_dir``, then move it into place."""
    out_dir = Path(out_dir)
    existed = out_dir.exists()
    with atomic_dir(out_dir, merge=True) as tmp:  # each table is swapped in one step
        catalog.save(tmp)
        load_catalog(tmp, allow_untagged=True)  # what we wrote must read back
    stale = [p.name for p in out_dir.iterdir() if p.suffix in (".json", ".jsonl")] if existed else []
    if stale:
        print(f"note: {out_dir} also holds {', '.join(stale)}; the new .csv files take precedence")


# ---------------------------------------------------------------- command line


def _tag(args) -> int:
    overrides = {
        "threshold": args.threshold,
        "review_floor": args.review_floor,
        "encoder": args.encoder,
        "cache_dir": args.cache_dir,
    }
    if args.no_embeddings:
        overrides["embeddings"] = False
    if args.no_neighbours:
        overrides["neighbours"] = False
    overrides.update(getattr(args, "overrides", {}))
    _check_inputs(args)
    cfg = load_tagging_config(args.config, overrides)
    catalog = load_catalog(args.catalog, allow_untagged=True)  # tagging is how untagged items get skills
    kinds = ("course", "job") if args.kinds == "all" else (args.kinds,)
    start = time.perf_counter()
    proposals = propose(catalog, cfg, make_encoder(cfg), kinds)
    rows = review_rows(catalog, proposals, cfg, args.hide_existing)
    write_review(Path(args.out), rows)
    pre = sum(r["accept"] == "yes" for r in rows)
    if args.json:
        from careerpath.cli_common import print_json

        result = {
            "out": str(args.out),
            "proposals": len(rows),
            "pre_accepted": pre,
            "threshold": cfg.threshold,
        }
        result["courses"] = len(catalog.courses) if "course" in kinds else 0
        result["jobs"] = len(catalog.jobs) if "job" in kinds else 0
        if args.evaluate:
            result["agreement"] = evaluate(proposals, gold_tags(catalog, kinds), cfg.threshold)
        print_json(result)
        return 0
    print(
        f"wrote {len(rows)} proposals ({pre} pre-accepted at confidence >= {cfg.threshold}) for "
        f"{len(catalog.courses) if 'course' in kinds else 0} courses and "
        f"{len(catalog.jobs) if 'job' in kinds else 0} jobs to {args.out} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    if args.evaluate:
        gold = gold_tags(catalog, kinds)
        m = evaluate(proposals, gold, cfg.threshold)
        print(
            f"agreement with the existing tags at {cfg.threshold}: precision {m['precision']:.3f} "
            f"recall {m['recall']:.3f} F1 {m['f1']:.3f} ({m['correct']}/{m['gold']} tags found)"
        )
    print(f"next: edit the accept column, then `careerpath data apply-tags {args.out} --catalog DIR`")
    return 0


def _check_inputs(args) -> None:
    """Every input path exists before anything is written (the error names the flag and the path)."""
    from careerpath.cli_common import require_path

    if getattr(args, "review", None) is not None:
        require_path(args.review, "REVIEW", "file", hint="write one with `careerpath data tag`")
    if args.config is not None:  # (the catalog: load_catalog, before anything is written)
        require_path(args.config, "--config", "file", hint="give a tagging YAML")


def _apply(args) -> int:
    if args.catalog is None and args.out is None:
        raise ValueError(f"pass --out DIR: the bundled catalog ({BUNDLED_DIR}) is not edited in place")
    _check_inputs(args)
    cfg = load_tagging_config(args.config, getattr(args, "overrides", {}))
    catalog = load_catalog(args.catalog, allow_untagged=True)
    accepted = read_accepted(Path(args.review), catalog)
    new, added = apply_tags(catalog, accepted, cfg.job_importance)
    out = Path(args.out or args.catalog)
    save_catalog_atomic(new, out)
    if args.json:
        from careerpath.cli_common import print_json

        print_json({"out": str(out), "added": added, "accepted_rows": len(accepted)})
        return 0
    print(f"applied {added} new tag(s) from {len(accepted)} accepted row(s); catalog written to {out}")
    left = new.untagged
    if left["courses"] or left["jobs"]:
        print(
            f"still without skills: {len(left['courses'])} course(s) {_few(left['courses'])} and "
            f"{len(left['jobs'])} job(s) {_few(left['jobs'])}; accept more rows of {args.review} (or tag "
            "them by hand) before `careerpath data build`"
        )
    return 0


def _few(ids: list[str], n: int = 5) -> str:
    return "(" + ", ".join(ids[:n]) + (", ..." if len(ids) > n else "") + ")" if ids else ""


def build_parser() -> argparse.ArgumentParser:
    from careerpath.cli_common import ArgumentParser, HelpFormatter, add_json_flag

    ap = ArgumentParser(
        prog="careerpath data", description="skill tagging with a review step", formatter_class=HelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="<command>")
    tag = sub.add_parser(
        "tag",
        prog="careerpath data tag",
        help="propose skills for courses and jobs into a review CSV",
        description="propose skills for courses and jobs into a review CSV; any key of the tagging config "
        "is a flag too (e.g. --job-importance 0.6)",
        formatter_class=HelpFormatter,
    )
    tag.add_argument("--catalog", help="catalog folder (default: the bundled catalog)")
    tag.add_argument("--out", required=True, help="review CSV to write")
    tag.add_argument("--config", help=f"tagging YAML (default: the bundled configs/{DEFAULT_CONFIG})")
    tag.add_argument("--threshold", type=float, help="pre-accept proposals at or above this confidence")
    tag.add_argument("--review-floor", type=float, help="list candidates down to this confidence")
    tag.add_argument("--kinds", choices=("course", "job", "all"), default="all", help="what to tag")
    tag.add_argument("--encoder", choices=("minilm", "hashing"), help="sentence encoder")
    tag.add_argument("--cache-dir", help="embedding cache folder")
    tag.add_argument("--no-embeddings", action="store_true", help="word matches only")
    tag.add_argument(
        "--no-neighbours",
        action="store_true",
        help="tag jobs from their own text only (not from similar tagged jobs, transitions, courses)",
    )
    tag.add_argument(
        "--hide-existing", action="store_true", help="leave out proposals the item is already tagged with"
    )
    tag.add_argument(
        "--evaluate", action="store_true", help="print precision/recall/F1 against the existing tags"
    )
    add_json_flag(tag)
    tag.set_defaults(func=_tag)
    app = sub.add_parser(
        "apply",
        prog="careerpath data apply-tags",
        help="merge the accepted rows of a review CSV into the catalog",
        description="merge the accepted rows of a review CSV into the catalog",
        formatter_class=HelpFormatter,
    )
    app.add_argument("review", help="review CSV from `careerpath data tag`, accept column filled")
    app.add_argument("--catalog", help="catalog folder (default: the bundled catalog; then --out is needed)")
    app.add_argument("--out", help="folder to write the tagged catalog to (default: --catalog, in place)")
    app.add_argument("--config", help=f"tagging YAML (default: the bundled configs/{DEFAULT_CONFIG})")
    add_json_flag(app)
    app.set_defaults(func=_apply)
    return ap


def main(argv: list[str] | None = None) -> int:
    from careerpath.cli_common import take_overrides

    parser = build_parser()
    rest, overrides = take_overrides(parser, list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(rest)
    args.overrides = overrides
    try:
        return args.func(args)
    except (CatalogError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


__all__ = [
    "Encoder",
    "HashingEncoder",
    "Proposal",
    "TaggingConfig",
    "apply_tags",
    "evaluate",
    "evaluate_tagging",
    "fit_neighbour_model",
    "neighbour_confidence",
    "neighbour_features",
    "tuning_split",
    "load_tagging_config",
    "propose",
    "read_accepted",
    "review_rows",
]

if __name__ == "__main__":
    sys.exit(main())
