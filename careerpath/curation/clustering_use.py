"""Using course clusters: similar courses (the demo) and a cluster-diverse top k (the recommender)."""

from __future__ import annotations

import math
from collections import Counter

from careerpath.core.catalog_model import Catalog


def _skill_set(c) -> set[str]:
    return set(c.skills) | {f"pre:{p}" for p in c.prerequisites}


def similar_courses(catalog: Catalog, course_id: str, k: int = 5) -> list[str]:
    """Up to ``k`` course ids like ``course_id``: same cluster first, then by skill overlap.

    Within each group courses rank by Jaccard overlap of taught skills and prerequisites, then by
    closeness of level, then by title. Without clusters (``cluster == -1``) it is skill overlap
    over the whole catalog.
    """
    if course_id not in catalog.courses:
        raise KeyError(f"unknown course {course_id!r}; use an id from courses")
    me = catalog.courses[course_id]
    mine = _skill_set(me)

    def key(c):
        theirs = _skill_set(c)
        jac = len(mine & theirs) / max(len(mine | theirs), 1)
        same = me.cluster >= 0 and c.cluster == me.cluster
        return (not same, -jac, abs(c.level - me.level), c.title)

    others = [c for c in catalog.courses.values() if c.id != course_id]
    return [c.id for c in sorted(others, key=key)[: max(k, 0)]]


def diversify(ranked_ids: list[str], cluster_of: dict[str, int], k: int) -> list[str]:
    """Top ``k`` of ``ranked_ids`` with at most ``ceil(k / n)`` from any one cluster, n clusters present.

    Greedy in rank order: an item is taken while its cluster is under the cap; if that leaves
    fewer than ``k``, the skipped items fill the rest in rank order. Items without a cluster
    (missing or -1) each count as their own cluster. ``n`` is the number of distinct clusters
    among all of ``ranked_ids`` (at most ``k``), so a list from one cluster comes back unchanged.
    """
    if k <= 0:
        return []
    ranked = list(dict.fromkeys(ranked_ids))

    def group(i: str):
        c = cluster_of.get(i, -1)
        return c if c is not None and c >= 0 else ("own", i)

    n = min(k, len({group(i) for i in ranked})) or 1
    cap = math.ceil(k / n)
    taken, skipped, per = [], [], Counter()
    for i in ranked:
        if len(taken) == k:
            break
        g = group(i)
        if per[g] < cap:
            taken.append(i)
            per[g] += 1
        else:
            skipped.append(i)
    return taken + skipped[: k - len(taken)]
