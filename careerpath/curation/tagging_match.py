"""Proposing skills for courses and jobs: word matches of skill names, aliases and stems
(:class:`Surface`), embedding similarity of sentences and phrases to skill names, and for jobs the
neighbour model on top (:func:`propose`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from careerpath.core.catalog import Catalog, Course, Job
from careerpath.core.cleaning import KNOWN_ALIASES, name_key
from careerpath.curation.tagging_config import (
    TaggingConfig,
)
from careerpath.curation.tagging_neighbours import (
    _neighbour_probability,
    _neighbour_texts,
    neighbour_confidence,
    neighbour_features,
)
from careerpath.curation.tagging_text import (
    _TOKEN,
    Encoder,
    HashingEncoder,
    is_prerequisite_sentence,
    item_text,
    phrases,
    stem,
    tokens,
)


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
        best = _candidates(units, sims[n] if sims is not None else None, surfaces, cfg, col, skill_ids)
        if kind == "job":
            text_of_job[item.id] = best
        for sid, (conf, method, ev) in sorted(best.items(), key=lambda kv: -kv[1][0]):
            if conf >= floor - 1e-9:
                proposals.append(Proposal(kind, item.id, sid, round(conf, 4), method, ev))
    if not use_neighbours:
        return proposals
    return _with_neighbours(catalog, cfg, proposals, vec, text_of_job, job_tags, floor)


def _candidates(
    units, sims, surfaces: list[Surface], cfg: TaggingConfig, col: dict, skill_ids: list[str]
) -> dict:
    """One item's candidate skills -> (confidence, method, evidence): word matches of its
    sentences, scaled down out of context, then (with ``sims``, the item's embedding scores and
    evidence) the closest skills by embedding."""
    words: dict[str, tuple[float, str, str]] = {}
    for text, prereq in units:
        for sid, hit in _word_matches(text, prereq, surfaces, cfg).items():
            if hit[0] > words.get(sid, (-1.0,))[0]:
                words[sid] = hit
    best: dict[str, tuple[float, str, str]] = {}
    if sims is not None:
        score, evidence = sims
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
    return best


def _with_neighbours(
    catalog: Catalog, cfg: TaggingConfig, proposals, vec, text_of_job, job_tags, floor: float
):
    """The proposals with each job's replaced by the neighbour model's (its text matches and the
    tags of the other jobs in ``job_tags``, its transitions and the closest courses)."""
    skill_ids = list(catalog.skills)
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
