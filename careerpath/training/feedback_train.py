"""Feedback as training signal: likes pull a recommended course up, dislikes push it down.

Every rating in the feedback store becomes one example: the rated profile (catalog ids, as the
demo stores them) as input, and ``next_course: <the course>`` as a teacher-forced target prefix.
The loss is on the course name's tokens only (for the tiny T5, one catalog token):

* liked: cross-entropy, ``-w log p(course | profile)``;
* disliked: unlikelihood (Welleck et al., 2019), ``-w log(1 - p(course | profile))``, which
  lowers that course for that kind of profile without saying what to recommend instead (the
  replayed training batches, mixed into every step, keep the rest of the ranking in place).

Why this and not a re-ranker on top: the ratings then shape the same model the demo, the CLI and
the evaluation use; there is no second model to ship, version and keep in step with the catalog.

Guard rails: events are re-keyed per person by the store's export (no session ids); a person's
repeated ratings of the same course for the same profile collapse to the last one; a person with
more than ``max_per_user`` events has every weight scaled by ``max_per_user / n`` so that no one
outweighs ``max_per_user`` ordinary ratings; events naming ids the catalog does not know are
dropped and counted; ratings of jobs are counted but not trained on (the target format puts the
next job after the skills, so a job alone is not a target prefix).
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from careerpath.core.profile import ResolvedProfile

log = logging.getLogger(__name__)
PREFIX = "next_course:"


def collect(events: list[dict], catalog, like_weight: float, dislike_weight: float, max_per_user: int):
    """``[(profile, course_id, sign, weight)]`` from exported store rows, and a report of what was used."""
    report = Counter(events=len(events))
    latest: dict[tuple, dict] = {}
    for e in events:
        if e.get("item_kind") != "course":
            report["not_a_course"] += 1
            continue
        p = e.get("profile") or {}
        ids_ok = e.get("item_id") in catalog.courses
        ids_ok &= (p.get("job") in catalog.jobs or not p.get("job")) and (
            p.get("goal") in catalog.jobs or not p.get("goal")
        )
        ids_ok &= all(s in catalog.skills for s in p.get("skills") or [])
        ids_ok &= all(c in catalog.courses for c in p.get("courses") or [])
        if not ids_ok:
            report["unknown_ids"] += 1
            continue
        key = (
            e["user"],
            e["item_id"],
            p.get("job"),
            p.get("goal"),
            tuple(sorted(p.get("skills") or [])),
            tuple(sorted(p.get("courses") or [])),
        )
        if key in latest:
            report["duplicates_collapsed"] += 1
        latest[key] = e  # rows come in time order: the last rating wins
    per_user = Counter(k[0] for k in latest)
    out = []
    for key, e in latest.items():
        scale = min(1.0, max_per_user / per_user[key[0]]) if max_per_user > 0 else 1.0
        if scale < 1.0:
            report["capped_events"] += 1
        like = e["rating"] > 0
        weight = (like_weight if like else dislike_weight) * scale
        prof = ResolvedProfile(
            job=e["profile"].get("job"),
            goal=e["profile"].get("goal"),
            skills=list(e["profile"].get("skills") or []),
            courses=list(e["profile"].get("courses") or []),
        )
        out.append((prof, e["item_id"], 1 if like else -1, weight))
        report["likes" if like else "dislikes"] += 1
    report["users"] = len(per_user)
    report["used"] = len(out)
    return out, dict(report)


def encode(
    items, catalog, tokenizer, family: str, max_source_length: int, context=None, prior=None
) -> list[dict]:
    """Token ids for each feedback example: input, decoder input and the course-name label span.
    ``context``: the dataset's :class:`~careerpath.core.context.GapRetriever` (inputs as in training);
    ``prior``: the model's :class:`~careerpath.model.prior.CoursePrior`, kept per example so that the
    margin loss ranks courses as the recommender does."""
    prefix = tokenizer(PREFIX, add_special_tokens=False)["input_ids"]
    position = {c: i for i, c in enumerate(catalog.courses)}
    examples = []
    for prof, course_id, sign, weight in items:
        taken = [position[c] for c in prof.courses if c in position]
        text = prof.input_text(catalog, context)
        full = tokenizer(f"{PREFIX} {catalog.courses[course_id].title}", add_special_tokens=False)[
            "input_ids"
        ]
        if full[: len(prefix)] != prefix or len(full) == len(prefix):
            raise ValueError(
                f"tokenizer splits {PREFIX!r} differently inside a target; cannot find the course span"
            )
        span = len(full) - len(prefix)
        if family == "seq2seq":
            src = tokenizer(text, truncation=True, max_length=max_source_length)["input_ids"]
            ex = {
                "input_ids": src,
                "target": full,
                "span": span,
                "sign": sign,
                "weight": weight,
                "taken": taken,
            }
            if prior is not None:
                ex["prior"] = prior.vector(
                    prof.job or "", prof.goal or "", prof.skills, prof.courses, prof.history
                )
                ex["course"] = position[course_id]
            examples.append(ex)
        else:
            from careerpath.model import generation

            src = tokenizer(
                generation.build_prompt(text),
                add_special_tokens=False,
                truncation=True,
                max_length=max_source_length,
            )["input_ids"]
            examples.append(
                {"input_ids": src + full, "target": None, "span": span, "sign": sign, "weight": weight}
            )
    return examples


def collate(examples: list[dict], pad_id: int, start_id: int, family: str) -> dict:
    """Right-padded batch; ``label_pos`` marks the course-name tokens whose probability is trained."""
    n = len(examples)
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    for i, e in enumerate(examples):
        ids[i, : len(e["input_ids"])] = torch.tensor(e["input_ids"])
        mask[i, : len(e["input_ids"])] = 1
    batch = {"input_ids": ids, "attention_mask": mask}
    if family == "seq2seq":
        twidth = max(len(e["target"]) for e in examples)
        dec = torch.full((n, twidth), pad_id, dtype=torch.long)
        labels = torch.full((n, twidth), -100, dtype=torch.long)
        for i, e in enumerate(examples):
            t = e["target"]
            dec[i, : len(t)] = torch.tensor([start_id] + t[:-1])
            labels[i, len(t) - e["span"] : len(t)] = torch.tensor(t[len(t) - e["span"] :])
        batch["decoder_input_ids"] = dec
    else:  # causal: position j predicts token j + 1
        labels = torch.full((n, width), -100, dtype=torch.long)
        for i, e in enumerate(examples):
            end = len(e["input_ids"])
            labels[i, end - e["span"] - 1 : end - 1] = torch.tensor(e["input_ids"][end - e["span"] :])
    batch["fb_labels"] = labels
    width_t = max(1, max(len(e.get("taken", [])) for e in examples))
    taken = torch.full((n, width_t), -1, dtype=torch.long)
    for i, e in enumerate(examples):
        if e.get("taken"):
            taken[i, : len(e["taken"])] = torch.tensor(e["taken"])
    batch["fb_taken"] = taken  # courses already taken: never shown, so not part of the cut-off
    if all("prior" in e for e in examples):  # the course prior, catalog order, and each course's place
        batch["fb_prior"] = torch.from_numpy(np.stack([e["prior"] for e in examples]))
        batch["fb_course"] = torch.tensor([e["course"] for e in examples])
    batch["fb_sign"] = torch.tensor([float(e["sign"]) for e in examples])
    batch["fb_weight"] = torch.tensor([float(e["weight"]) for e in examples])
    return batch


def loss(
    model,
    batch: dict,
    course_tokens: torch.Tensor | None = None,
    k: int = 5,
    margin: float = 0.2,
    keep_within: int = 0,
):
    """The feedback loss, mean over examples, each scaled by its weight.

    With ``course_tokens`` (one vocabulary id per catalog course) the loss is rank-aware: over the
    course distribution at the name position, a disliked course is pushed below the (k+1)-th
    course's log-probability by ``margin``, a liked one up to the k-th; nothing moves once it
    is across the cut-off (a liked course the model already shows costs nothing). With ``keep_within`` a disliked course is also held above that rank:
    out of view, not buried (one group's dislike is weak evidence that it is wrong for everyone
    the model generalises to), which keeps Hit@10 on held-out data in place. Without it:
    likelihood for likes, unlikelihood ``-log(1 - p)`` for dislikes, on every name token.
    """
    labels, sign, weight = batch["fb_labels"], batch["fb_sign"], batch["fb_weight"]
    inputs = {k_: v for k_, v in batch.items() if not k_.startswith("fb_")}
    logits = model(**inputs).logits.float()
    logp = torch.log_softmax(logits, dim=-1)
    on = labels != -100
    if course_tokens is not None:
        pos = on.float().argmax(1)  # the single course-name position of each example
        rows = logp[torch.arange(len(pos)), pos]  # (batch, vocab)
        courses = rows[:, course_tokens]  # (batch, n_courses)
        target = labels[torch.arange(len(pos)), pos]
        own = rows.gather(1, target.unsqueeze(1)).squeeze(1)
        if "fb_prior" in batch:  # a model trained on the course prior: rank as the recommender does
            courses = courses + batch["fb_prior"]
            own = own + batch["fb_prior"].gather(1, batch["fb_course"].unsqueeze(1)).squeeze(1)
        depth = min(max(k + 1, keep_within), courses.shape[1])
        ranked = courses.detach().clone()
        if "fb_taken" in batch:  # the recommender never shows taken courses: rank as it does
            t = batch["fb_taken"]
            rows_i = torch.arange(len(t)).unsqueeze(1).expand_as(t)[t >= 0]
            ranked[rows_i, t[t >= 0]] = float("-inf")
        top = ranked.topk(depth, dim=1).values
        push_down = torch.relu(own - top[:, k] + margin)  # below the (k+1)-th
        if keep_within > k + 1:  # ... but not below the keep_within-th
            push_down = push_down + torch.relu(top[:, keep_within - 1] - own + margin)
        # a liked course already among the k shown confirms the model: no loss, nothing moves
        pull_up = torch.relu(top[:, min(k, top.shape[1]) - 1] - own)  # up to the k-th
        per_example = torch.where(sign > 0, pull_up, push_down)
        return (per_example * weight).sum() / len(weight)
    tok_logp = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    like = -tok_logp
    p = tok_logp.exp().clamp(max=1 - 1e-6)
    unlike = -torch.log1p(-p)
    per_tok = torch.where(sign.unsqueeze(1) > 0, like, unlike) * on
    per_example = per_tok.sum(1) / on.sum(1).clamp(min=1)
    return (per_example * weight).sum() / len(weight)


class FeedbackBatches:
    """An endless, seeded stream of feedback batches (reshuffled each pass)."""

    def __init__(
        self, examples: list[dict], batch_size: int, pad_id: int, start_id: int, family: str, seed: int
    ):
        if not examples:
            raise ValueError("no usable feedback events in the store (nothing rated, or all for unknown ids)")
        self.examples, self.batch_size = examples, max(1, batch_size)
        self.pad_id, self.start_id, self.family = pad_id, start_id, family
        self.rng = random.Random(seed)
        self._order: list[int] = []

    course_tokens: torch.Tensor | None = None
    k: int = 5
    margin: float = 0.2
    keep_within: int = 0

    def loss(self, model, device) -> torch.Tensor:
        tokens = None if self.course_tokens is None else self.course_tokens.to(device)
        return loss(model, self.next(device), tokens, self.k, self.margin, self.keep_within)

    def next(self, device) -> dict:
        if len(self._order) < self.batch_size:
            more = list(range(len(self.examples)))
            self.rng.shuffle(more)
            self._order += more
        take, self._order = self._order[: self.batch_size], self._order[self.batch_size :]
        batch = collate([self.examples[i] for i in take], self.pad_id, self.start_id, self.family)
        return {k: v.to(device) for k, v in batch.items()}


def load_feedback(cfg, catalog, tokenizer, family: str, start_id: int, prior=None):
    """``(batches or None, report, re-ranker or None)`` from the store named in the config
    (``prior``: the course prior the model trains with, for the margin loss)."""
    from careerpath.data.feedback import FeedbackStore

    db = Path(cfg.feedback.feedback_db)
    if not db.exists():
        raise FileNotFoundError(
            f"{db}: no feedback store there; the demo writes one (`careerpath serve --db`)"
        )
    events = FeedbackStore(db).export_for_training()
    items, report = collect(
        events, catalog, cfg.feedback.like_weight, cfg.feedback.dislike_weight, cfg.feedback.max_per_user
    )
    reranker = None
    if cfg.feedback.dislikes_to in ("reranker", "both"):
        from careerpath.model.reranker import fit_from_feedback

        reranker = fit_from_feedback(items, catalog, cfg.feedback.rerank_top_n, cfg.feedback.rerank_strength)
    if cfg.feedback.dislikes_to == "reranker":  # the model learns from likes only
        items = [it for it in items if it[2] > 0]
    report["model_examples"] = len(items)
    if not items:
        log.info("feedback: %s", report)
        return None, report, reranker
    from careerpath.core.context import retriever_for

    context = retriever_for(cfg.data.data_dir, catalog)
    examples = encode(items, catalog, tokenizer, family, cfg.data.max_source_length, context, prior)
    batches = FeedbackBatches(
        examples, cfg.feedback.feedback_batch_size, tokenizer.pad_token_id, start_id, family, cfg.train.seed
    )
    batches.k, batches.margin = cfg.feedback.shown_k, cfg.feedback.margin
    batches.keep_within = cfg.feedback.keep_within
    report["loss_type"] = "unlikelihood"
    if cfg.feedback.loss_type == "margin":
        batches.course_tokens = course_token_ids(tokenizer, catalog)
        if batches.course_tokens is None:
            log.warning("course names are not single tokens: margin loss unavailable, using unlikelihood")
        else:
            report["loss_type"] = "margin"
    log.info("feedback: %s", report)
    return batches, report, reranker


def course_token_ids(tokenizer, catalog) -> torch.Tensor | None:
    """:func:`careerpath.model.scoring.course_token_ids` as a tensor (the margin loss indexes logits with it)."""
    from careerpath.model.scoring import course_token_ids as ids_of

    ids = ids_of(tokenizer, catalog)
    return None if ids is None else torch.tensor(ids)
