"""The observed US mobility folder (CPS-ASEC) and the metrics its README defines.

:func:`load_mobility` reads ``cps_nodes.csv``, ``cps_transitions.csv`` and ``onet_to_cps.csv`` into
a :class:`Mobility` (survey groups, their attributes, observed flows, the O*NET crosswalk);
:func:`score_ranking` and :func:`mean_scores` score a ranking of destinations against a source's
observed leavers.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from careerpath.importers.onet import SourceError

ATTRIBUTION = (
    "Occupational mobility from CPS-ASEC via del Rio-Chanona et al., CanadaLaborApplication (CC BY 4.0); "
    "O*NET 29.3 and the O*NET 2010-2019 crosswalk, USDOL/ETA (CC BY 4.0)."
)
MIN_DESTINATIONS = 5  # sources scored: at least this many observed destinations (the README's rule)


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
