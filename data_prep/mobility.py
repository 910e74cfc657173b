"""A transition model for real occupations, learned from observed US mobility (CPS-ASEC).

    careerpath data import-onet PATH --out DIR --mobility ../shared/data/mobility

p(next occupation group | current group) over the survey's occupation groups, from pairwise
features any O*NET catalog has (Related Occupations, skill / knowledge / work-activity / technology
overlap, job zone step, wage ratio, destination employment, shared SOC groups, title similarity)
plus the flows observed for *other* occupations (the reverse flow, where similar occupations go,
how many people each destination draws). A conditional logit over destinations (staying excluded)
is fitted with the observed outflows as soft labels. Where a source's own outflows are observed,
the answer is those flows smoothed towards the model (empirical Bayes, strength tuned on held-out
sources); elsewhere the model alone. Scored with grouped cross-validation by source, so a source's
own outflows never score it: half of the survey's sources are withheld, and what is built here must
work for them. Metrics as the mobility README defines them (:func:`score_ranking`).

Observed mobility is what people did, not what was best for them.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from data_prep.onet import CODE, Release, SourceError, _num, _s, onet_rows

ATTRIBUTION = (
    "Occupational mobility from CPS-ASEC via del Rio-Chanona et al., CanadaLaborApplication (CC BY 4.0); "
    "O*NET 29.3 and the O*NET 2010-2019 crosswalk, USDOL/ETA (CC BY 4.0)."
)
MIN_DESTINATIONS = 5  # sources scored: at least this many observed destinations (the README's rule)
FLOW_EPS = 1e-3  # flow features are log(FLOW_EPS + share): p ~ (eps + share) ** weight
TIER_RANK = {"Primary-Short": 0, "Primary-Long": 1, "Supplemental": 2}
DWA_TABLE = "Tasks to DWAs"


# ---------------------------------------------------------------- the survey data


@dataclass
class Mobility:
    """The mobility folder: groups, their attributes, observed flows and the O*NET crosswalk."""

    groups: list[str]
    titles: dict[str, str]
    employment: dict[str, float]
    wage: dict[str, float]
    minor: dict[str, str]
    major: dict[str, str]
    given: set[str]
    flows: dict[str, dict[str, float]]  # source -> target -> share one year later (staying included)
    crosswalk: dict[str, list[str]]  # O*NET-SOC 2019 code -> groups, best match first
    path: str = ""

    def leavers(self, source: str) -> dict[str, float]:
        """q_s(t): the source's outflows without staying, renormalised (empty when nobody leaves)."""
        out = {t: p for t, p in self.flows.get(source, {}).items() if t != source and p > 0}
        total = sum(out.values())
        return {t: p / total for t, p in out.items()} if total > 0 else {}

    def group_of(self, onet_code: str) -> str | None:
        """The first survey group of an O*NET code (the README's scoring rule), None when unmapped."""
        groups = self.crosswalk.get(onet_code)
        return groups[0] if groups else None

    def scored_sources(self, min_destinations: int = MIN_DESTINATIONS) -> list[str]:
        """Given sources with at least ``min_destinations`` observed destinations, in file order."""
        return [s for s in self.groups if s in self.given and len(self.leavers(s)) >= min_destinations]


def _read_csv(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    if not path.exists():
        raise SourceError(f"{path}: not found; pass the mobility folder that holds {path.name}")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise SourceError(f"{path}: missing column(s) {', '.join(missing)}; use the file as published")
        return list(reader)


def _number(value: str, where: str) -> float:
    try:
        return float(value) if value not in ("", None) else math.nan
    except ValueError:
        raise SourceError(f"{where}: {value!r} is not a number; fix or remove the row") from None


def load_mobility(path: str | Path) -> Mobility:
    """Read ``cps_nodes.csv``, ``cps_transitions.csv`` and ``onet_to_cps.csv`` from a folder."""
    folder = Path(path)
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a folder; pass the mobility folder (e.g. ../shared/data/mobility)")
    nodes = _read_csv(
        folder / "cps_nodes.csv",
        ("node", "title", "employment", "mean_annual_wage", "minor_group", "major_group", "outflows"),
    )
    groups = [r["node"] for r in nodes]
    m = Mobility(
        groups=groups,
        titles={r["node"]: r["title"] for r in nodes},
        employment={r["node"]: _number(r["employment"], f"cps_nodes.csv {r['node']}") for r in nodes},
        wage={r["node"]: _number(r["mean_annual_wage"], f"cps_nodes.csv {r['node']}") for r in nodes},
        minor={r["node"]: r["minor_group"] for r in nodes},
        major={r["node"]: r["major_group"] for r in nodes},
        given={r["node"] for r in nodes if r["outflows"] == "given"},
        flows={},
        crosswalk={},
        path=str(folder),
    )
    known = set(groups)
    for line, r in enumerate(
        _read_csv(folder / "cps_transitions.csv", ("source", "target", "probability")), start=2
    ):
        if r["source"] not in known or r["target"] not in known:
            raise SourceError(
                f"{folder / 'cps_transitions.csv'} line {line}: group {r['source']!r} or {r['target']!r} "
                "is not in cps_nodes.csv; use the files of one release together"
            )
        p = _number(r["probability"], f"cps_transitions.csv line {line}")
        m.flows.setdefault(r["source"], {})[r["target"]] = p
    for r in _read_csv(folder / "onet_to_cps.csv", ("onet_code", "cps_nodes")):
        # the README says space-separated; the published file separates with ';' - accept both
        m.crosswalk[r["onet_code"]] = [g for g in re.split(r"[;\s]+", r["cps_nodes"] or "") if g in known]
    return m


# ---------------------------------------------------------------- metrics (the README's definitions)


def dedupe_ranking(ranked: Iterable[str | None], source: str) -> list[str]:
    """Suggested groups in order, without the source itself, unmapped codes or repeats."""
    return list(dict.fromkeys(g for g in ranked if g and g != source))


def score_ranking(ranked: Iterable[str | None], q: dict[str, float], source: str) -> dict[str, float]:
    """Recall@10, Recall@5, Hit@10 and MRR of one source's suggested groups against its leavers q."""
    order = dedupe_ranking(ranked, source)
    top = max(sorted(q), key=lambda t: q[t])  # most common destination (ties: lowest code)
    rank = order.index(top) + 1 if top in order else 0
    return {
        "recall@10": sum(q.get(g, 0.0) for g in order[:10]),
        "recall@5": sum(q.get(g, 0.0) for g in order[:5]),
        "hit@10": float(0 < rank <= 10),
        "mrr": 1.0 / rank if rank else 0.0,
    }


def mean_scores(rankings: dict[str, list[str]], mob: Mobility, sources: Iterable[str]) -> dict[str, float]:
    """Metrics averaged over ``sources`` (each must have a ranking; missing ones score as empty)."""
    rows = [score_ranking(rankings.get(s, []), mob.leavers(s), s) for s in sources]
    if not rows:
        raise ValueError("no sources to score; pass sources with observed outflows")
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    out["sources"] = len(rows)
    return out


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
    from careerpath.embeddings import Embedder

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


# ---------------------------------------------------------------- the conditional logit


@dataclass
class TransitionModel:
    """Destination scores u = standardised features . weights; p(t | s) = softmax over t != s."""

    weights: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    features: tuple[str, ...] = FEATURES
    l2: float = 0.0
    strength: float = 0.0  # empirical-Bayes prior strength, in estimated movers (see smooth)

    def probabilities(self, x_rows: np.ndarray, sources: np.ndarray) -> np.ndarray:
        """[len(sources), groups] p(t | s) for feature rows ``x_rows`` [len(sources), groups, F]."""
        u = ((x_rows - self.mean) / self.scale) @ self.weights
        u[np.arange(len(sources)), sources] = -np.inf
        u -= u.max(axis=1, keepdims=True)
        p = np.exp(u)
        return p / p.sum(axis=1, keepdims=True)

    def as_dict(self) -> dict[str, float]:
        """Weight per feature, in standard deviations of the feature (comparable across features)."""
        return {f: round(float(w), 4) for f, w in zip(self.features, self.weights)}


def _loss_and_grad(w, z, y, mask, l2):
    u = np.where(mask, z @ w, -np.inf)
    u -= u.max(axis=1, keepdims=True)
    logp = u - np.log(np.exp(u).sum(axis=1, keepdims=True))
    p = np.exp(logp)
    logp = np.where(mask, logp, 0.0)  # staying: no label, no 0 * -inf
    n = len(z)
    loss = -np.sum(y * logp) / n + 0.5 * l2 * w @ w
    grad = np.einsum("stf,st->f", z, p - y) / n + l2 * w
    return loss, grad


def fit_logit(
    x: np.ndarray, y: np.ndarray, sources: np.ndarray, l2: float = 1e-2, features=FEATURES
) -> TransitionModel:
    """Fit weights by L-BFGS: mean over sources of cross-entropy(y_s, softmax(x_s w)) + l2/2 |w|^2.

    ``x`` [S, groups, F] features of the training sources' rows, ``y`` [S, groups] their leaver
    shares (soft labels, each row sums to 1), ``sources`` [S] the row index of each source (its own
    column is excluded: staying is modelled apart). Features are standardised so the L2 penalty
    treats them alike and the weights are comparable.
    """
    flat = x.reshape(-1, x.shape[-1])
    mean, scale = flat.mean(axis=0), flat.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = (x - mean) / scale
    mask = np.ones(y.shape, dtype=bool)
    mask[np.arange(len(sources)), sources] = False
    res = minimize(
        _loss_and_grad, np.zeros(x.shape[-1]), args=(z, y, mask, l2), jac=True, method="L-BFGS-B",
        options={"maxiter": 500},
    )  # fmt: skip
    return TransitionModel(res.x, mean, scale, tuple(features), l2)


# ---------------------------------------------------------------- empirical Bayes for observed sources


def estimated_movers(q: dict[str, float]) -> float:
    """How many movers the survey saw leave a source, roughly: 1 / the smallest observed share.

    The published shares are survey-weighted, so this is an order of magnitude (a destination
    seen once carries about one mover's weight), which is what the smoothing strength needs.
    """
    return 1.0 / min(q.values()) if q else 0.0


def smooth(observed: np.ndarray, model: np.ndarray, movers: float, strength: float) -> np.ndarray:
    """Posterior mean of a Dirichlet centred on the model: (n q + a m) / (n + a)."""
    return (movers * observed + strength * model) / (movers + strength)


def tune_strength(
    held_out: list[tuple[np.ndarray, np.ndarray]],
    grid: Sequence[float] = (0.5, 1, 2, 4, 8, 16, 32, 64, 128),
    seed: int = 0,
    repeats: int = 5,
) -> tuple[float, dict[float, float]]:
    """The prior strength that best predicts unseen movers of held-out sources.

    ``held_out`` pairs each held-out source's observed shares q with the model's prediction m from
    a fit that never saw that source. The source's estimated movers are split at random in two
    (multinomial draws from q): one half is the observation, the other the target, and the
    strength maximising the other half's mean log-likelihood under the smoothed first half wins.
    """
    rng = np.random.default_rng(seed)
    loglik = {a: 0.0 for a in grid}
    total = 0
    for q, m in held_out:
        n = max(2, int(round(estimated_movers({i: v for i, v in enumerate(q) if v > 0}))))
        for _ in range(repeats):
            a_counts = rng.multinomial(n // 2, q)
            b_counts = rng.multinomial(n - n // 2, q)
            for a in grid:
                p = smooth(a_counts / max(a_counts.sum(), 1), m, a_counts.sum(), a)
                loglik[a] += float(b_counts @ np.log(np.maximum(p, 1e-12)))
            total += b_counts.sum()
    per_mover = {a: v / max(total, 1) for a, v in loglik.items()}
    return max(per_mover, key=per_mover.get), per_mover


# ---------------------------------------------------------------- grouped cross-validation


@dataclass
class Fitted:
    """Everything the product and the benchmark need from one fit."""

    mob: Mobility
    model: TransitionModel
    probs: np.ndarray  # [groups, groups] model p(t | s) for every source
    smoothed: np.ndarray  # [groups, groups] observed-smoothed where the source is given, else probs
    data: TransitionData
    cv: dict = field(default_factory=dict)


def folds_of(sources: Sequence[str], k: int, seed: int = 0) -> list[list[str]]:
    """``k`` folds of the sources, at random (seeded)."""
    order = list(sources)
    np.random.default_rng(seed).shuffle(order)
    return [sorted(order[i::k]) for i in range(k)]


class TransitionData:
    """Static features plus what flow features need; builds the full feature tensor for a fold."""

    def __init__(
        self, mob: Mobility, prof: GroupProfiles, static: np.ndarray, features: Sequence[str] = FEATURES
    ):
        self.mob, self.prof, self.static = mob, prof, static
        unknown = sorted(set(features) - set(FEATURES))
        if unknown:
            raise ValueError(f"unknown feature(s) {', '.join(unknown)}; known: {', '.join(FEATURES)}")
        self.names = tuple(f for f in FEATURES if f in set(features))  # an ablation drops some
        self.keep = [FEATURES.index(f) for f in self.names]
        self.pos = {g: i for i, g in enumerate(mob.groups)}
        self.minor = np.array([mob.minor[g] for g in mob.groups])
        sim = _centred_cosine(np.hstack([prof.skills, prof.knowledge]))
        self.similarity = np.where(prof.has_onet[:, None] & prof.has_onet[None, :], sim, 0.0)

    def features(self, known: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Full [groups, groups, F] features using only the outflows of ``known`` sources, and q."""
        q = leaver_matrix(self.mob, known)
        observed = np.zeros(len(self.mob.groups), dtype=bool)
        observed[[self.pos[s] for s in known]] = True
        observed &= q.sum(axis=1) > 0
        flows = flow_features(q, observed, self.similarity, self.minor)
        return np.concatenate([self.static, flows], axis=-1)[..., self.keep], q

    def fit(self, train: Sequence[str], l2: float) -> tuple[TransitionModel, np.ndarray]:
        """Fit on ``train`` sources' outflows; returns the model and p(t | s) for every source."""
        x, q = self.features(train)
        rows = np.array([self.pos[s] for s in train if q[self.pos[s]].sum() > 0])
        model = fit_logit(x[rows], q[rows], rows, l2, self.names)
        return model, model.probabilities(x, np.arange(len(x)))


def cross_validate(data: TransitionData, k: int = 5, l2: float = 1e-2, seed: int = 0) -> dict:
    """Grouped k-fold CV by source: each fold's sources scored by a model (and flow features) that
    never saw their outflows. Returns held-out rankings, metrics and the tuned smoothing strength."""
    mob = data.mob
    given = [s for s in mob.groups if s in mob.given and mob.leavers(s)]
    if len(given) < 2:
        raise SourceError(
            f"{mob.path}: {len(given)} source(s) with observed leavers; the transition model needs at "
            "least 2 (cps_transitions.csv rows with source != target, sources marked given)"
        )
    rankings: dict[str, list[str]] = {}
    held_probs = np.zeros((len(mob.groups), len(mob.groups)))  # rows of given sources, fitted without them
    held_out: list[tuple[np.ndarray, np.ndarray]] = []
    weights = []
    for fold in (f for f in folds_of(given, min(k, len(given)), seed) if f):
        train = [s for s in given if s not in set(fold)]
        model, probs = data.fit(train, l2)
        weights.append(model.weights)
        q_all = leaver_matrix(mob, fold)
        for s in fold:
            i = data.pos[s]
            rankings[s] = [mob.groups[j] for j in np.argsort(-probs[i], kind="stable")[:50]]
            held_probs[i] = probs[i]
            held_out.append((q_all[i], probs[i]))
    strength, per_mover = tune_strength(held_out, seed=seed)
    scored = mob.scored_sources()
    return {
        "rankings": rankings,
        "probs": held_probs,
        "metrics": mean_scores(rankings, mob, scored) if scored else {"sources": 0},
        "strength": strength,
        "strength_loglik": per_mover,
        "fold_weights_sd": dict(zip(data.names, np.std(weights, axis=0).round(4).tolist())),
    }


def prepare(
    mob: Mobility, tables: dict, embeddings: bool = True, features: Sequence[str] = FEATURES
) -> TransitionData:
    """Group profiles and static features from the O*NET tables (title embeddings when asked)."""
    prof = build_profiles(mob, tables)
    titles = title_similarity([mob.titles[g] for g in mob.groups]) if embeddings else None
    return TransitionData(mob, prof, static_features(mob, prof, titles), features)


def fit_transitions(data: TransitionData, l2: float = 1e-2, k: int = 5, seed: int = 0) -> Fitted:
    """Grouped CV (held-out metrics, the smoothing strength), then a final fit on every given source;
    observed sources are smoothed towards it."""
    mob = data.mob
    cv = cross_validate(data, k, l2, seed)
    given = [s for s in mob.groups if s in mob.given and mob.leavers(s)]
    model, probs = data.fit(given, l2)
    model.strength = cv["strength"]
    smoothed = probs.copy()
    q = leaver_matrix(mob, given)
    for s in given:
        i = data.pos[s]
        smoothed[i] = smooth(q[i], probs[i], estimated_movers(mob.leavers(s)), model.strength)
    return Fitted(mob, model, probs, smoothed, data, cv)


# ---------------------------------------------------------------- into a catalog


REASONS = {  # feature -> how a suggestion it drives is explained
    "related_index": "O*NET lists it as related",
    "related_reverse": "O*NET lists it as related",
    "skill_similarity": "similar skills",
    "knowledge_similarity": "similar knowledge",
    "activity_overlap": "similar work activities",
    "technology_overlap": "shared tools",
    "title_similarity": "a closely related title",
    "log_target_employment": "a large occupation",
    "same_minor_group": "the same occupation group",
    "reverse_flow": "people also move the other way (US CPS)",
    "neighbour_flow": "a common move from similar occupations (US CPS)",
    "sibling_flow": "a common move from similar occupations (US CPS)",
    "inflow": "an occupation many people move into (US CPS)",
}


def _share_text(q: float) -> str:
    pct = 100 * q
    return f"{pct:.0f}%" if pct >= 1 else f"{pct:.1f}%"


def zone_text(step: float) -> str:
    """'one job zone up', 'the same job zone', '2 job zones down' (rounded group means)."""
    n = int(round(step))
    if n == 0:
        return "the same job zone"
    words = {1: "one job zone", 2: "two job zones", 3: "three job zones", 4: "four job zones"}
    return f"{words.get(abs(n), f'{abs(n)} job zones')} {'up' if n > 0 else 'down'}"


def explain(fitted: Fitted, source: str, target: str, x_pair: np.ndarray) -> str:
    """Why the pair is suggested: the observed share when the source's leavers were seen going there,
    else the two features that raise its score most, and the job-zone step."""
    mob, model = fitted.mob, fitted.model
    q = mob.leavers(source) if source in mob.given else {}
    if q.get(target, 0.0) > 0:
        return (
            f"{_share_text(q[target])} of {mob.titles[source].lower()} who change occupation become "
            f"{mob.titles[target].lower()} (US CPS)"
        )
    contrib = (x_pair - model.mean) / model.scale * model.weights
    ranked = sorted((-c, REASONS[f]) for f, c in zip(model.features, contrib) if c > 0 and f in REASONS)
    reasons = list(dict.fromkeys(r for _, r in ranked))[:2]
    pos, f = fitted.data.pos, STATIC_FEATURES.index
    static = fitted.data.static[pos[source], pos[target]]
    return ", ".join([*reasons, zone_text(static[f("zone_up")] - static[f("zone_down")])])


def catalog_transitions(
    fitted: Fitted, jobs: dict, max_per_job: int = 10, codes_per_group: int = 1
) -> tuple[list, dict]:
    """Transitions between catalog jobs (O*NET codes) with p(next job | job) from the fitted model.

    p(group h | group g) is the observed-smoothed row where g's outflows are given, the model
    elsewhere. The ``max_per_job`` likeliest groups are written, each carried by its
    ``codes_per_group`` catalog jobs closest in skills to the source job (h's probability split
    among them by skill overlap): a group of forty codes must not crowd out every other
    destination, and what the data knows is the group. Moves inside one survey group are invisible
    in the data (they count as staying) and are not written; jobs the crosswalk does not map get no
    mobility transitions (the caller keeps their O*NET ones).
    """
    from data_prep.catalog import Transition
    from data_prep.progression import overlap

    mob, data = fitted.mob, fitted.data
    features, _ = data.features([s for s in mob.groups if s in mob.given and mob.leavers(s)])
    targets = {g: [c for c in data.prof.codes[g] if c in jobs] for g in mob.groups}
    out, mapped = [], set()
    for a, job in jobs.items():
        g = mob.group_of(a)
        if g is None:
            continue
        mapped.add(a)
        i = data.pos[g]
        row = fitted.smoothed[i]
        moves: dict[str, tuple[float, str]] = {}
        groups_taken = 0
        for j in np.argsort(-row, kind="stable"):
            h = mob.groups[j]
            if groups_taken >= max_per_job or row[j] <= 0:
                break
            codes = [b for b in targets[h] if b != a]
            if h == g or not codes:
                continue
            groups_taken += 1
            sims = [(overlap(job, jobs[b]) + 0.05, b) for b in codes]
            closest = sorted(sims, key=lambda x: (-x[0], x[1]))[:codes_per_group]
            total = sum(w for w, _ in closest)
            why = explain(fitted, g, h, features[i, j])
            for w, b in closest:  # a code listed under two groups collects both (first why kept)
                p, first_why = moves.get(b, (0.0, why))
                moves[b] = (p + row[j] * w / total, first_why)
        for b, (p, why) in sorted(moves.items(), key=lambda m: (-m[1][0], m[0])):
            out.append(Transition(a, b, float(f"{p:.4g}"), why))
    report = {
        "attribution": ATTRIBUTION,
        "jobs_with_mobility_transitions": len(mapped),
        "observed_sources": sum(1 for g in mob.groups if g in mob.given and mob.leavers(g)),
        "cv_metrics": {k: round(v, 4) for k, v in fitted.cv["metrics"].items()},
        "weights": fitted.model.as_dict(),
        "smoothing_strength": fitted.model.strength,
    }
    return out, report
