"""Catalog names as vocabulary tokens: the target heads a course or job title starts or ends a
target with, and the one token id per name when every name is a single token after its prefix
(the tiny T5's catalog tokens), which lets one decoder step score the whole catalog.

Used by :class:`careerpath.model.scoring.CatalogScorer` and by the priors and training, which score the
same tokens.
"""

from __future__ import annotations

from careerpath.core.catalog import Catalog
from careerpath.core.textformat import STAY, Step, serialise_target


def single_token_ids(tokenizer, prefix: str, texts: list[str]) -> list[int] | None:
    """The one token each text adds after ``prefix`` (e.g. a catalog name after "next_course:"),
    or None unless every text is ``prefix`` plus exactly one token and those tokens are distinct."""
    p = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    out = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) != len(p) + 1 or ids[: len(p)] != p:
            return None
        out.append(ids[-1])
    return out if len(set(out)) == len(out) else None


def course_heads(titles: list[str]) -> list[str]:
    """``next_course: <title>`` for each title, as a serialised target starts."""
    return [serialise_target(Step(t, [], STAY)).split(" | skills_gained")[0] for t in titles]


def job_heads(titles: list[str]) -> list[str]:
    """``next_job: <title>`` for each title (``stay`` included), as a serialised target ends."""
    return [serialise_target(Step("x", [], t)).rsplit(" | ", 1)[1] for t in titles]


def course_token_ids(tokenizer, catalog: Catalog) -> list[int] | None:
    """One vocabulary id per catalog course (catalog order) when every name is one token after
    ``next_course:`` (the tiny T5's catalog tokens), else None."""
    titles = [c.title for c in catalog.courses.values()]
    return single_token_ids(tokenizer, "next_course:", course_heads(titles))


def job_token_ids(tokenizer, titles: list[str]) -> list[int] | None:
    """One vocabulary id per job title in ``titles`` (give ``stay`` too where it is scored) when every
    name is one token after ``next_job:``, else None."""
    return single_token_ids(tokenizer, "next_job:", job_heads(titles))
