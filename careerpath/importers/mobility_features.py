"""Pairwise features of survey groups for the mobility transition model.

O*NET profiles of each survey group (:func:`read_onet_tables`, :func:`build_profiles`: mean Skills
and Knowledge ratings, shares of listed work activities and tools, job zone, Related Occupations),
the features that need no observed flow (:func:`static_features`) and those read from the observed
sources' outflows (:func:`flow_features`, never a source's own row for itself).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from careerpath.importers.mobility_survey import Mobility
from careerpath.importers.onet import CODE, Release, _num, _s, onet_rows

FLOW_EPS = 1e-3  # flow features are log(FLOW_EPS + share): p ~ (eps + share) ** weight
TIER_RANK = {"Primary-Short": 0, "Primary-Long": 1, "Supplemental": 2}
DWA_TABLE = "Tasks to DWAs"


# ---------------------------------------------------------------- O*NET profiles of the survey groups


@dataclass
class GroupProfiles:
    """What O*NET says about each survey group: its codes' ratings, zones, tools and related lists."""

    codes: dict[str, list[str]]  # group -> O*NET codes (first-group codes; else any mapped code)
    skills: np.ndarray  # [groups, elements] mean Skills importance (IM)
    knowledge: np.ndarray  # [groups, elements] mean Knowledge importance
    activities: np.ndarray  # [groups, DWAs] share of the group's codes listing each DWA
    tech: np.ndarray  # [groups, examples] share of the group's codes listing each technology
    zone: np.ndarray  # [groups] mean job zone (nan when unknown)
    related: dict[tuple[str, str], tuple[int, int, int]]  # (g, h) -> (best tier rank, best index, links)
    has_onet: np.ndarray  # [groups] bool


def read_onet_tables(path: str | Path) -> dict:
    """The O*NET tables the transition model reads (Skills/Knowledge IM, zones, tools, DWAs, related).

    Unparseable ratings are skipped like the importer skips them; missing optional tables give
    empty features (the model then leans on the others)."""
    release = Release(path, "O*NET")
    occ = {_s(r[CODE]): _s(r["Title"]) for r in onet_rows(release, "Occupation Data")}
    ratings: dict[str, dict[str, dict[str, float]]] = {"Skills": {}, "Knowledge": {}}
    for table, by_code in ratings.items():
        for r in onet_rows(release, table):
            value = _num(r["Data Value"])
            if _s(r["Scale ID"]) == "IM" and value is not None:
                by_code.setdefault(_s(r[CODE]), {})[_s(r["Element ID"])] = value
    zones = {}
    for r in onet_rows(release, "Job Zones", required=False) or []:
        if _num(r["Job Zone"]) is not None:
            zones[_s(r[CODE])] = _num(r["Job Zone"])
    listed: dict[str, dict[str, set[str]]] = {"tech": {}, "dwas": {}}
    for key, table, column in (("tech", "Technology Skills", "Example"), ("dwas", DWA_TABLE, "DWA ID")):
        for r in onet_rows(release, table, required=False) or []:
            listed[key].setdefault(_s(r[CODE]), set()).add(_s(r[column]).lower())
    related = []
    for r in onet_rows(release, "Related Occupations", required=False) or []:
        index = int(_num(r["Index"]) or 1)
        related.append((_s(r[CODE]), _s(r["Related O*NET-SOC Code"]), _s(r["Relatedness Tier"]), index))
    return {"occupations": occ, **ratings, "zones": zones, **listed, "related": related}


def group_codes(mob: Mobility, codes: Iterable[str]) -> dict[str, list[str]]:
    """Group -> its O*NET codes: those whose first group it is, else any code that lists it."""
    first: dict[str, list[str]] = {}
    anywhere: dict[str, list[str]] = {}
    for code in codes:
        groups = mob.crosswalk.get(code, [])
        if groups:
            first.setdefault(groups[0], []).append(code)
        for g in groups:
            anywhere.setdefault(g, []).append(code)
    return {g: first.get(g) or anywhere.get(g, []) for g in mob.groups}


def _mean_vectors(groups, members, per_code: dict[str, dict[str, float]]) -> np.ndarray:
    keys = sorted({k for v in per_code.values() for k in v})
    col = {k: i for i, k in enumerate(keys)}
    out = np.zeros((len(groups), max(len(keys), 1)))
    for gi, g in enumerate(groups):
        rated = [per_code[c] for c in members[g] if c in per_code]
        for vec in rated:
            for k, v in vec.items():
                out[gi, col[k]] += v / len(rated)
    return out


def build_profiles(mob: Mobility, tables: dict) -> GroupProfiles:
    """Aggregate O*NET codes to survey groups (means of ratings, shares of listed tools / activities)."""
    members = group_codes(mob, tables["occupations"])
    groups = mob.groups
    as_weights = {
        name: {c: dict.fromkeys(s, 1.0) for c, s in tables[name].items()} for name in ("tech", "dwas")
    }
    zone = np.array(
        [
            np.mean([tables["zones"][c] for c in members[g] if c in tables["zones"]] or [np.nan])
            for g in groups
        ]
    )
    group_of = {c: mob.crosswalk[c][0] for c in tables["occupations"] if mob.crosswalk.get(c)}
    related: dict[tuple[str, str], tuple[int, int, int]] = {}
    for a, b, tier, idx in tables["related"]:
        g, h = group_of.get(a), group_of.get(b)
        if g and h and g != h:
            t, i, n = related.get((g, h), (9, 99, 0))
            related[(g, h)] = (min(t, TIER_RANK.get(tier, 2)), min(i, idx), n + 1)
    return GroupProfiles(
        codes=members,
        skills=_mean_vectors(groups, members, tables["Skills"]),
        knowledge=_mean_vectors(groups, members, tables["Knowledge"]),
        activities=_mean_vectors(groups, members, as_weights["dwas"]),
        tech=_mean_vectors(groups, members, as_weights["tech"]),
        zone=zone,
        related=related,
        has_onet=np.array([bool(members[g]) for g in groups]),
    )


def related_rankings(prof: GroupProfiles, sources: Iterable[str]) -> dict[str, list[str]]:
    """The O*NET Related Occupations baseline per group: best tier, then best Index, then most links."""
    links: dict[str, list[tuple[tuple[int, int, int], str]]] = {}
    for (g, h), (tier, idx, n) in prof.related.items():
        links.setdefault(g, []).append(((tier, idx, -n), h))
    return {s: [h for _, h in sorted(links.get(s, []))] for s in sources}


# ---------------------------------------------------------------- pairwise features


def _centred_cosine(m: np.ndarray) -> np.ndarray:
    """Cosine similarity of rows after removing the mean row (what every occupation shares says little)."""
    rated = np.abs(m).sum(axis=1) > 0
    c = m - (m[rated].mean(axis=0) if rated.any() else 0.0)
    c[~rated] = 0.0
    norm = np.linalg.norm(c, axis=1, keepdims=True)
    c = np.divide(c, norm, out=np.zeros_like(c), where=norm > 0)
    return c @ c.T


def _weighted_jaccard(m: np.ndarray) -> np.ndarray:
    """Weighted Jaccard of rows (shares of listed items), computed in blocks of rows."""
    out = np.zeros((len(m), len(m)))
    for i in range(len(m)):
        num = np.minimum(m[i], m).sum(axis=1)
        den = np.maximum(m[i], m).sum(axis=1)
        np.divide(num, den, out=out[i], where=den > 0)
    return out


def title_similarity(titles: list[str]) -> np.ndarray:
    """Cosine similarity of the group titles embedded with all-MiniLM-L6-v2 (offline wheel)."""
    from careerpath.core.embeddings import Embedder  # imports torch: only when embeddings are asked for

    vecs = Embedder().embed(titles).astype(np.float64)
    return vecs @ vecs.T


STATIC_FEATURES = (
    "related_primary_short",  # some code of the source lists one of the target's as Primary-Short
    "related_primary_long",
    "related_supplemental",
    "related_index",  # (21 - best Index) / 20: 1 for the first related occupation
    "related_links",  # log(1 + number of code-to-code links)
    "related_reverse",  # the target lists the source (any tier)
    "skill_similarity",  # centred cosine of Skills importance
    "knowledge_similarity",
    "activity_overlap",  # weighted Jaccard of detailed work activities
    "technology_overlap",  # weighted Jaccard of Technology Skills examples
    "title_similarity",  # MiniLM cosine of the group titles (0 without embeddings)
    "zone_up",  # max(0, target zone - source zone)
    "zone_down",
    "log_wage_ratio",
    "log_wage_ratio_sq",
    "log_target_employment",
    "same_minor_group",
    "same_major_group",
    "no_onet",  # the source or the target has no O*NET code (features above are 0 there)
)
FLOW_FEATURES = (
    "reverse_flow",  # log(eps + q_target(source)): where the target's leavers go, when observed
    "reverse_observed",  # the target's outflows are observed (0: reverse_flow means nothing)
    "neighbour_flow",  # log(eps + share): where the 10 most similar observed sources' leavers go
    "sibling_flow",  # ... and those of observed sources in the same SOC minor group
    "inflow",  # log(eps + mean share of observed sources' leavers the target draws)
)
FEATURES = STATIC_FEATURES + FLOW_FEATURES


def static_features(mob: Mobility, prof: GroupProfiles, titles_sim: np.ndarray | None = None) -> np.ndarray:
    """[groups, groups, len(STATIC_FEATURES)] features that need no observed flow."""
    groups, n = mob.groups, len(mob.groups)
    pos = {g: i for i, g in enumerate(groups)}
    x = np.zeros((n, n, len(STATIC_FEATURES)))
    f = {name: i for i, name in enumerate(STATIC_FEATURES)}
    for (g, h), (tier, idx, links) in prof.related.items():
        i, j = pos[g], pos[h]
        x[i, j, f["related_primary_short"] + tier] = 1.0
        x[i, j, f["related_index"]] = (21 - min(idx, 20)) / 20
        x[i, j, f["related_links"]] = math.log1p(links)
        x[j, i, f["related_reverse"]] = 1.0
    x[..., f["skill_similarity"]] = _centred_cosine(prof.skills)
    x[..., f["knowledge_similarity"]] = _centred_cosine(prof.knowledge)
    x[..., f["activity_overlap"]] = _weighted_jaccard(prof.activities)
    x[..., f["technology_overlap"]] = _weighted_jaccard(prof.tech)
    if titles_sim is not None:
        x[..., f["title_similarity"]] = titles_sim
    zone = np.where(np.isnan(prof.zone), np.nanmedian(prof.zone), prof.zone)
    step = zone[None, :] - zone[:, None]
    x[..., f["zone_up"]] = np.maximum(step, 0)
    x[..., f["zone_down"]] = np.maximum(-step, 0)
    wage = np.array([mob.wage[g] for g in groups])
    wage = np.log(np.where(np.isnan(wage) | (wage <= 0), np.nanmedian(wage), wage))
    ratio = wage[None, :] - wage[:, None]
    x[..., f["log_wage_ratio"]] = ratio
    x[..., f["log_wage_ratio_sq"]] = ratio**2
    emp = np.array([mob.employment[g] for g in groups])
    emp = np.log1p(np.where(np.isnan(emp), 0.0, emp))
    x[..., f["log_target_employment"]] = emp[None, :]
    minor = np.array([mob.minor[g] for g in groups])
    major = np.array([mob.major[g] for g in groups])
    x[..., f["same_minor_group"]] = minor[:, None] == minor[None, :]
    x[..., f["same_major_group"]] = major[:, None] == major[None, :]
    x[..., f["no_onet"]] = ~(prof.has_onet[:, None] & prof.has_onet[None, :])
    return x


def leaver_matrix(mob: Mobility, sources: Iterable[str]) -> np.ndarray:
    """[groups, groups] q_s(t) for the given ``sources`` (rows of other groups are 0)."""
    pos = {g: i for i, g in enumerate(mob.groups)}
    q = np.zeros((len(mob.groups), len(mob.groups)))
    for s in sources:
        for t, p in mob.leavers(s).items():
            q[pos[s], pos[t]] = p
    return q


def flow_features(
    q: np.ndarray, observed: np.ndarray, similarity: np.ndarray, minor: np.ndarray
) -> np.ndarray:
    """[groups, groups, len(FLOW_FEATURES)] from the observed sources' leaver shares ``q``.

    Only rows of ``observed`` sources are read, and a source's own row never enters its own
    features (the neighbour, sibling and inflow features leave it out), so the features of a
    held-out source are the same whether or not its row is in ``q``.
    """
    n = len(q)
    obs = observed.astype(bool)
    q = np.where(obs[:, None], q, 0.0)
    x = np.zeros((n, n, len(FLOW_FEATURES)))
    x[..., 0] = np.log(FLOW_EPS + q.T) * obs[None, :]
    x[..., 1] = obs[None, :]
    sim = np.where(obs[None, :], similarity, -np.inf)
    np.fill_diagonal(sim, -np.inf)
    for i in range(n):
        top = np.argsort(-sim[i])[:10]
        top = top[np.isfinite(sim[i, top])]
        w = np.maximum(sim[i, top], 0.0) + 1e-6
        x[i, :, 2] = np.log(FLOW_EPS + (w @ q[top]) / w.sum()) if len(top) else np.log(FLOW_EPS)
        sib = np.flatnonzero(obs & (minor == minor[i]))
        sib = sib[sib != i]
        x[i, :, 3] = np.log(FLOW_EPS + q[sib].mean(axis=0)) if len(sib) else np.log(FLOW_EPS)
    total, count = q.sum(axis=0), obs.sum()
    for i in range(n):  # leave the source's own row out of what the targets draw
        own = q[i] if obs[i] else 0.0
        x[i, :, 4] = np.log(FLOW_EPS + (total - own) / max(count - obs[i], 1))
    return x
