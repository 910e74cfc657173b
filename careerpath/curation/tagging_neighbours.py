"""Job tags from the rest of the catalog: the features of a candidate skill from the most similar
other tagged jobs, the job's career-step neighbours and the closest courses, and the small logistic
model that turns them into a confidence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from careerpath.core.catalog import Catalog, Course, Job
from careerpath.curation.tagging_config import (
    NEIGHBOUR_FEATURES,
    TaggingConfig,
)


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
