"""The course prior: the skill-gap rule as a fixed expert that the model's next-course scores add to.

A product of experts (log-linear): the next-course distribution is

    p(course | profile) ∝ exp(model logit(course) + prior(course))

where, for a course the person can take,

    prior(course) = w_gap x gap score + phi(course) . (a + B psi(person))

- the gap score: the :class:`~careerpath.core.context.GapRetriever`'s importance-weighted share of the
  gap to the next step and the goal the course closes, 0 when it closes none of it;
- phi(course) = (log(1 + hours), hours / 10, level - 1): what the course asks of the person.
  Course length and level are in every catalog, and people weigh them;
- psi(person) = (1, the mean of phi over the courses the person has taken) when they have taken
  any, else zeros: the taste their own choices reveal (someone who took long, advanced courses
  is likely to again). ``a`` (3 numbers) is how everyone weighs length and level; ``B`` (3 x 4)
  how that weighing shifts with the courses taken;

and a large negative number for a course the person cannot take (taken already, a prerequisite
missing, nothing new to learn).

The prior is in the loss during training, so the model learns what the prior misses (a residual)
instead of re-learning the gap arithmetic over the whole catalog, and it is in every path that turns the model's scores into
a course: catalog scoring (:class:`~careerpath.model.scoring.CatalogScorer`), generation
(:class:`CoursePriorProcessor`) and so recommendations, pathways and evaluation. The 16 weights
are fitted once, by maximum likelihood of the training rows' next courses under the prior alone (a
conditional logit over the courses each person could take; against the rows' ``probs_visible``
when every row has them), and saved with the model (``course_prior.json``; a weight missing
from a file, as in an older, smaller prior, is 0). Only for models whose course names are single tokens (the
tiny T5's catalog tokens): the prior then adds to one logit per course at one decoder position.
"""

from __future__ import annotations

from pathlib import Path

from careerpath.core.catalog import Catalog
from careerpath.core.context import GapRetriever, retriever_for
from careerpath.model.course_cross import with_cross
from careerpath.model.prior_base import (
    COURSE_FEATURES,
    EXCLUDED,
    FEATURES,
    KINDS,
    PRIOR_FILE,
    TASTE_FEATURES,
    CoursePrior,
    CoursePriorProcessor,
    TextMemo,
    one_thread,
)
from careerpath.model.prior_latent import (
    CLASS_FEATURES,
    KNOT_QUANTILES,
    LatentClassPrior,
    catalog_knots,
    hinge_name,
)

__all__ = [
    "CLASS_FEATURES",
    "COURSE_FEATURES",
    "EXCLUDED",
    "FEATURES",
    "KINDS",
    "KNOT_QUANTILES",
    "PRIOR_FILE",
    "TASTE_FEATURES",
    "CoursePrior",
    "CoursePriorProcessor",
    "LatentClassPrior",
    "TextMemo",
    "catalog_knots",
    "hinge_name",
    "load_prior",
    "one_thread",
]


def load_prior(
    model_dir: str | Path, catalog: Catalog, retriever: GapRetriever | None = None
) -> CoursePrior | None:
    """The course prior saved in a model folder, with the retriever of its ``context.json``
    (or ``retriever``), or None when the model has none; with the model's job-by-course
    interaction added when the folder has one (:class:`~careerpath.model.course_cross.CrossedPrior`)."""
    if not (Path(model_dir) / PRIOR_FILE).is_file():
        return None
    if retriever is None:
        retriever = retriever_for(model_dir, catalog)
    return with_cross(CoursePrior.load(model_dir, retriever), model_dir)
