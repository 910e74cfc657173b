"""The oracle ceiling's values of a row: what the generator's recorded probabilities say about
the best possible next course and next job (from the text and with the hidden type known), and the
argmax and entropy of a distribution."""

from __future__ import annotations

import math

from careerpath.core.textformat import STAY
from careerpath.data.synthesis_config import Event


def argmax_key(dist: dict[str, float]) -> str:
    """Most likely key; ties broken by key so the oracle is deterministic."""
    return min(dist.items(), key=lambda kv: (-kv[1], kv[0]))[0] if dist else ""


def entropy(dist: dict[str, float]) -> float:
    return -sum(p * math.log(p) for p in dist.values() if p > 0)


def oracle_values(ev: Event) -> tuple[bool, list[float], bool]:
    """What the oracle ceiling adds for one row (:func:`oracle_values_of_probs`; the generator's
    own when it made them)."""
    own = getattr(ev, "oracle", None)  # events of other generators have none
    return own if own is not None else oracle_values_of_probs(ev)


def oracle_values_of_probs(ev: Event) -> tuple[bool, list[float], bool]:
    """What the oracle ceiling adds for one row, in its order: for ``probs_visible`` then
    ``probs``: next-course hit and expected accuracy, next-job hit and expected accuracy, and
    (moves only) next-job hit. Also whether a job expectation was a numpy float (the original
    sum then became one and was rounded as one)."""
    is_move = ev.next_job != STAY
    out: list[float] = []
    numpy_job = False
    for probs in (ev.probs_visible, ev.probs):
        course, job = probs["course"], probs["job"]
        out.append(float(_argmax(course) == ev.next_course))
        out.append(max(course.values()))
        best = _argmax(job)
        out.append(float(best == ev.next_job))
        top = max(job.values())
        numpy_job |= type(top) is not float
        out.append(float(top))
        if is_move:
            out.append(float(best == ev.next_job))
    return is_move, out, numpy_job


def _argmax(dist: dict[str, float]) -> str:
    """:func:`argmax_key`: the most likely key, ties broken by key."""
    if not dist:
        return ""
    top = max(dist.values())
    best = [k for k, v in dist.items() if v == top]
    return best[0] if len(best) == 1 else min(best)
