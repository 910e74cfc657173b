"""The mobility transition model: a conditional logit, empirical-Bayes smoothing, grouped CV.

:func:`fit_logit` fits p(destination | source) over the pairwise features of
:mod:`careerpath.importers.mobility_features`; :func:`smooth` and :func:`tune_strength` pull observed sources'
outflows towards it; :func:`cross_validate` scores it by source folds so a source's own outflows
never score it; :func:`prepare` and :func:`fit_transitions` run the whole fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from careerpath.importers.mobility_features import (
    FEATURES,
    GroupProfiles,
    _centred_cosine,
    build_profiles,
    flow_features,
    leaver_matrix,
    static_features,
    title_similarity,
)
from careerpath.importers.mobility_survey import Mobility, mean_scores
from careerpath.importers.onet import SourceError

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
