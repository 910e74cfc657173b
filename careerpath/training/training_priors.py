"""The priors a run trains with: the course prior (careerpath/model/prior.py) and the job prior
(careerpath/model/job_prior.py) fitted on the training rows, and after training, how much of the model's
own scores each prior takes (the model scales), chosen on the validation rows."""

from __future__ import annotations

import logging
from pathlib import Path

from careerpath.core.catalog import load_catalog
from careerpath.core.config import Config
from careerpath.core.context import CONTEXT_FILE, retriever_for
from careerpath.model.course_cross import CourseCross, CrossedPrior
from careerpath.model.job_prior import JobPrior
from careerpath.model.job_prior_scales import choose_scales
from careerpath.model.prior import CoursePrior, LatentClassPrior
from careerpath.model.scoring import CatalogScorer
from careerpath.training.training_data import SoftTargets

log = logging.getLogger(__name__)


def course_prior(
    cfg: Config, tokenizer, family: str, train_rows: list[dict], soft: SoftTargets | None
) -> CoursePrior | None:
    """The course prior to train with (careerpath/model/prior.py), fitted on ``train_rows``, or None:
    it needs a seq2seq model with one token per course (``soft``'s course tokens: the tiny T5) and a
    dataset with catalog context (context.json)."""
    if cfg.train.course_prior == "never":
        return None
    why = None
    if family != "seq2seq" or soft is None:
        why = "a seq2seq model with one token per course name (model.kind tiny_t5) and soft targets on"
    elif not (Path(cfg.data.data_dir) / CONTEXT_FILE).is_file():
        why = "a dataset built with catalog context (context.json; context.enabled in the data config)"
    retriever = None
    if why is None:
        retriever = retriever_for(cfg.data.data_dir, load_catalog(Path(cfg.data.data_dir) / "catalog"))
        if retriever is None:
            why = "a dataset built with catalog context enabled"
    if why is not None:
        if cfg.train.course_prior == "always":
            raise ValueError(f"--train.course-prior always needs {why}; use auto or never")
        log.info("course prior: off (needs %s)", why)
        return None
    prior = LatentClassPrior.fit(retriever, train_rows)
    log.info(
        "course prior: on, latent classes %s (fitted on %d training rows)",
        prior.weights,
        min(len(train_rows), 6000),
    )
    return prior


def fit_experts(
    model,
    tokenizer,
    family: str,
    cfg: Config,
    prior: CoursePrior,
    job_prior: JobPrior,
    val_rows,
    metrics: dict,
) -> None:
    """How much of the model's own scores each prior takes (``model_scale``), chosen on the
    validation rows by log-loss through the catalog scorer (careerpath/job_prior_scales.choose_scales);
    recorded in ``metrics``."""
    model.eval()  # the priors hold the catalog they were fitted on: the one the model ranks
    scorer = CatalogScorer(model, tokenizer, prior.catalog, kind=family, prior=prior, job_prior=job_prior)
    report = choose_scales(scorer, val_rows)
    metrics["job_prior"] = job_prior.params
    metrics["model_scale"] = {"course": prior.model_scale, "job": job_prior.model_scale}
    metrics["validation_log_loss_by_scale"] = {
        k: {str(s): round(v, 5) for s, v in d.items()} for k, d in report.items()
    }
    log.info(
        "job prior %s; model scale chosen on validation: course %s, job %s (log-loss by scale %s)",
        job_prior.params,
        prior.model_scale,
        job_prior.model_scale,
        metrics["validation_log_loss_by_scale"],
    )


def job_prior_for(prior: CoursePrior | None, train_rows: list[dict]) -> JobPrior | None:
    """The job prior fitted on ``train_rows`` over the course prior's retriever (None without a
    course prior), at model scale 1: the model is trained as a residual on it."""
    if prior is None:
        return None
    job_prior = JobPrior.fit(prior.retriever, train_rows)
    job_prior.model_scale = 1.0  # the model is trained as a residual on it
    log.info("job prior: on, %s (fitted on the training rows)", job_prior.params)
    return job_prior


def course_cross_for(
    cfg: Config, prior: CoursePrior | None, train_rows: list[dict], val_rows: list[dict]
) -> tuple[CoursePrior | CrossedPrior | None, dict | None]:
    """The course prior with the model's job-by-course interaction (careerpath/model/course_cross.py)
    fitted on ``train_rows`` and kept when it beats the prior alone on ``val_rows``; (prior, report),
    the prior unchanged (report None) when ``train.course_cross`` is never or there is no prior."""
    if prior is None or cfg.train.course_cross == "never":
        return prior, None
    cross, report = CourseCross.fit(prior, train_rows, val_rows)
    log.info(
        "course interaction: %s (validation log-loss %s)",
        f"on, penalty {report['chosen']}" if cross is not None else f"off ({report.get('why')})",
        report.get("validation_log_loss"),
    )
    return (prior if cross is None else CrossedPrior(prior, cross)), report
