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

The survey folder and its metrics are in :mod:`careerpath.importers.mobility_survey`, the pairwise features in
:mod:`careerpath.importers.mobility_features`, the logit, smoothing and cross-validation in
:mod:`careerpath.importers.mobility_model`; this module turns a fit into catalog transitions with a reason
each, and re-exports what the importer, the benchmark and the tests use.
"""

from __future__ import annotations

import numpy as np

from careerpath.core.catalog_model import Transition
from careerpath.core.progression import overlap
from careerpath.importers.mobility_features import (
    STATIC_FEATURES,
    GroupProfiles,
    leaver_matrix,
    read_onet_tables,
    related_rankings,
    static_features,
)
from careerpath.importers.mobility_model import (
    Fitted,
    TransitionData,
    cross_validate,
    estimated_movers,
    fit_logit,
    fit_transitions,
    prepare,
    smooth,
    tune_strength,
)
from careerpath.importers.mobility_survey import (
    ATTRIBUTION,
    MIN_DESTINATIONS,
    load_mobility,
    mean_scores,
    score_ranking,
)

__all__ = [  # the pieces live in mobility_survey, mobility_features and mobility_model
    "ATTRIBUTION",
    "MIN_DESTINATIONS",
    "STATIC_FEATURES",
    "Fitted",
    "GroupProfiles",
    "TransitionData",
    "catalog_transitions",
    "cross_validate",
    "estimated_movers",
    "explain",
    "fit_logit",
    "fit_transitions",
    "leaver_matrix",
    "load_mobility",
    "mean_scores",
    "prepare",
    "read_onet_tables",
    "related_rankings",
    "score_ranking",
    "smooth",
    "static_features",
    "tune_strength",
    "zone_text",
]


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
