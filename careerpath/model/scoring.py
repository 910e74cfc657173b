"""Exact full-catalog scoring: the model's log-probability of every catalog course and job.

This is the one ranking path of careerpath: evaluation, baselines comparison and the
recommendation engine all rank with it. No sampled shortlist: for each input every course title
is scored as the start of the target, ``next_course: <title> |``, from one encoder pass whose
output is shared by all candidates. Jobs are scored as the rest of the target, ``... | next_job:
<title>`` + end of text, given each of the ``job_course_k`` most likely courses (with the skills
the catalog says they add) and mixed by those courses' probabilities. Scores are log-softmax
normalised over the catalog, so they are probabilities a person can read.

Speed (CPU, one profile at a time): a plain float32 T5 runs through :class:`_LeanT5`, the same
forward in fewer torch ops on the model's own weights; inputs are tokenised straight by the Rust
tokenizer when that gives the same ids; all rows' job heads share one decoder call; and the course
scores of the last few inputs are remembered until a weight changes (a recommendation and then a
pathway for one profile score the same text first).

This module holds :class:`CatalogScorer` and :class:`ModelScorer`; the lean T5 forward lives in
:mod:`careerpath.model.scoring_lean` and the catalog-name tokens in :mod:`careerpath.model.scoring_tokens`,
re-exported here for their callers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import torch

from careerpath.core.catalog import Catalog
from careerpath.core.textformat import STAY, Step, serialise_target
from careerpath.model.generation import build_prompt
from careerpath.model.scoring_lean import LeanT5Training, _EncoderOut, _LeanT5, weights_stamp
from careerpath.model.scoring_tokens import (
    course_heads,
    course_token_ids,
    job_token_ids,
    single_token_ids,
)

PREFIX_SEP = " |"

# defined here, or re-exported for the priors, training and tests that import them from here
__all__ = [
    "PREFIX_SEP",
    "CatalogScorer",
    "LeanT5Training",
    "ModelScorer",
    "_LeanT5",
    "course_token_ids",
    "job_token_ids",
    "single_token_ids",
]


def _logsumexp(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    return (m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))).squeeze(axis)


class CatalogScorer:
    """Scores every catalog course and job for a batch of input texts with a seq2seq or causal LM."""

    def __init__(
        self,
        model,
        tokenizer,
        catalog: Catalog,
        kind: str = "seq2seq",
        job_course_k: int = 3,
        max_source_length: int = 512,
        fast: bool = True,
        prior=None,
        job_prior=None,
    ):
        """``prior``: the model's :class:`~careerpath.model.prior.CoursePrior` (``course_prior.json``),
        added to its next-course log-probabilities (times the prior's ``model_scale``,
        renormalised) for every input; ``job_prior``: its :class:`~careerpath.model.job_prior.JobPrior`
        (``job_prior.json``), the next-job expert mixed over the whole course distribution."""
        self.model, self.tok, self.catalog, self.kind = model.eval(), tokenizer, catalog, kind
        self.prior = prior
        self.job_prior = job_prior
        self.k = job_course_k
        self.max_source_length = max_source_length
        self.device = next(model.parameters()).device
        self.course_ids = list(catalog.courses)
        self.job_ids = list(catalog.jobs) + [STAY]
        titles = [catalog.courses[c].title for c in self.course_ids]
        self.course_tokens = [self._ids(h + PREFIX_SEP) for h in course_heads(titles)]
        # Fast path: when every name is one token after a shared prefix (the tiny T5's catalog
        # tokens), one decoder step gives the whole catalog's distribution at once.
        self.course_prefix = self._ids("next_course:")
        self.course_single = course_token_ids(tokenizer, catalog)
        self.job_single = job_token_ids(
            tokenizer, [catalog.jobs[j].title for j in self.job_ids[:-1]] + [STAY]
        )
        self.fast = (
            fast and kind != "causal" and self.course_single is not None and self.job_single is not None
        )
        # the fast path's model calls go through a lean re-implementation of T5's forward when the
        # model is a plain float32 T5 (same maths, none of transformers' per-module overhead)
        self._lean = _LeanT5.build(model) if self.fast else None
        self._head_ids: dict[tuple, list[int]] = {}
        # course log-probs of recent inputs (a recommendation and then a pathway for the same
        # profile score the same text): valid while no weight changed (tensor version counters)
        self._params = list(model.parameters())
        self._memo: dict[str, np.ndarray] = {}
        self._memo_stamp: tuple | None = None
        self._memo_lock = threading.Lock()

    # -- tokenisation ---------------------------------------------------------------------
    def _ids(self, text: str, eos: bool = False) -> list[int]:
        ids = self.tok(text, add_special_tokens=False)["input_ids"]
        return ids + [self.tok.eos_token_id] if eos else ids

    def _encode_inputs(self, texts: list[str]):
        if self.kind == "causal":
            return [self._ids(build_prompt(t)) for t in texts]
        self.tok.truncation_side = "right"
        enc = self._tokenise_direct(texts)
        if enc is None:
            enc = self.tok(
                texts, padding=True, truncation=True, max_length=self.max_source_length, return_tensors="pt"
            )
        return {k: v.to(self.device) for k, v in enc.items()}

    def _tokenise_direct(self, texts: list[str]) -> dict | None:
        """What ``self.tok(texts, padding=True, truncation=True, ...)`` returns (input ids and attention
        mask, padded on the right), straight from the Rust tokenizer without transformers' per-call
        Python; None when that is not sure to be the same (a text needing truncation, left padding,
        no Rust tokenizer), and the caller goes through ``self.tok``."""
        backend = getattr(self.tok, "backend_tokenizer", None)
        if (
            backend is None
            or self.tok.padding_side != "right"
            or getattr(self.tok, "split_special_tokens", False)
        ):
            return None
        # transformers sets the backend's truncation and padding again on each call it makes
        if backend.truncation is not None:
            backend.no_truncation()
        if backend.padding is not None:
            backend.no_padding()
        ids = [backend.encode(t).ids for t in texts]
        width = max(len(i) for i in ids)
        if width > self.max_source_length:
            return None
        input_ids = torch.full((len(ids), width), self.tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for r, row in enumerate(ids):
            input_ids[r, : len(row)] = torch.tensor(row)
            mask[r, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": mask}

    def _lean_on(self) -> bool:
        return self._lean is not None and not self.model.training

    def _encode(self, texts: list[str], stamp: tuple | None = None):
        """Tokenised inputs and, for seq2seq, the one encoder pass every candidate shares."""
        enc = self._encode_inputs(texts)
        if self.kind == "causal":
            return enc, None
        if self._lean_on():
            return enc, _EncoderOut(self._lean.encode(enc["input_ids"], enc["attention_mask"], stamp))
        return enc, self.model.get_encoder()(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])

    # -- sequence log-probabilities --------------------------------------------------------
    @torch.inference_mode()
    def _seq2seq_logp(
        self, enc_out, mask, row: int, targets: list[list[int]], start: list[int]
    ) -> np.ndarray:
        """Sum of log p over target tokens from ``start[i]`` on, for candidates of one input row."""
        n, width = len(targets), max(len(t) for t in targets)
        pad = self.tok.pad_token_id
        labels = torch.full((n, width), -100, dtype=torch.long)
        for i, t in enumerate(targets):
            labels[i, : len(t)] = torch.tensor(t)
        dec_in = torch.full((n, width), pad, dtype=torch.long)
        dec_in[:, 1:] = labels[:, :-1].clamp(min=0)
        dec_in[:, 0] = self.model.config.decoder_start_token_id
        hidden = enc_out.last_hidden_state[row : row + 1].expand(n, -1, -1)
        out = self.model(
            encoder_outputs=(hidden,),
            attention_mask=mask[row : row + 1].expand(n, -1),
            decoder_input_ids=dec_in.to(self.device),
            use_cache=False,
        )
        logp = torch.log_softmax(out.logits.float(), dim=-1).cpu()
        tok_lp = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        keep = labels != -100
        for i, s in enumerate(start):
            keep[i, :s] = False
        return (tok_lp * keep).sum(-1).numpy()

    @torch.inference_mode()
    def _causal_logp(
        self, prompt: list[int], targets: list[list[int]], start: list[int], batch: int = 64
    ) -> np.ndarray:
        out = []
        for b in range(0, len(targets), batch):
            chunk = targets[b : b + batch]
            seqs = [prompt + t for t in chunk]
            width = max(len(s) for s in seqs)
            ids = torch.full((len(seqs), width), self.tok.pad_token_id or 0, dtype=torch.long)
            att = torch.zeros_like(ids)
            for i, s in enumerate(seqs):
                ids[i, : len(s)] = torch.tensor(s)
                att[i, : len(s)] = 1
            logits = self.model(
                input_ids=ids.to(self.device), attention_mask=att.to(self.device)
            ).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1).cpu()
            tok_lp = logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            for i, t in enumerate(chunk):
                first = len(prompt) - 1 + start[b + i]
                out.append(float(tok_lp[i, first : len(prompt) - 1 + len(t)].sum()))
        return np.array(out)

    # -- public API --------------------------------------------------------------------------
    def _courses_prior_only(self) -> bool:
        """Whether the course prior takes none of the model's course scores (model scale 0, chosen
        on validation): they would be multiplied by 0, so they are not computed."""
        return self.prior is not None and self.prior.model_scale == 0

    def _jobs_prior_only(self) -> bool:
        return self.job_prior is not None and self.job_prior.model_scale == 0

    @torch.inference_mode()
    def score_courses(self, input_texts: list[str]) -> np.ndarray:
        """``course_logp [n, n_courses]`` only: one decoder pass per input (what planning needs)."""
        if self._courses_prior_only():
            return self._with_prior(input_texts, np.zeros((len(input_texts), len(self.course_ids))))
        stamp = weights_stamp(self._params)
        remembered = self._recall(input_texts, stamp)
        if remembered is not None:
            return remembered
        enc, enc_out = self._encode(input_texts, stamp)
        if self.fast:
            out = self._fast_courses(enc_out, enc["attention_mask"])
        else:
            out = np.zeros((len(input_texts), len(self.course_ids)))
            for r in range(len(input_texts)):
                raw = self._logp(enc, enc_out, r, self.course_tokens, [0] * len(self.course_tokens))
                out[r] = raw - _logsumexp(raw)
        out = self._with_prior(input_texts, out)
        self._remember(input_texts, out, stamp)
        return out

    def _with_prior(self, texts: list[str], course_lp: np.ndarray) -> np.ndarray:
        """``course_lp`` plus the course prior of each text, renormalised (unchanged without one)."""
        if self.prior is None:
            return course_lp
        return self._mixed(course_lp, self.prior.for_texts(texts))

    def _mixed(self, course_lp: np.ndarray, prior_rows: np.ndarray) -> np.ndarray:
        out = self.prior.model_scale * course_lp + prior_rows
        return out - _logsumexp(out)[:, None]

    def courses_from_prior(self, prior_rows: np.ndarray) -> np.ndarray:
        """:meth:`score_courses` of inputs whose course prior rows (``CoursePrior.vector``, one per
        input) are known, when the model's course scores are not used (:meth:`_courses_prior_only`):
        the same numbers, without building or reading the input texts."""
        if not self._courses_prior_only():
            raise ValueError(
                "courses_from_prior: this scorer uses the model's course scores; use score_courses"
            )
        return self._mixed(np.zeros((len(prior_rows), len(self.course_ids))), prior_rows)

    # -- memo of recent course scores --------------------------------------------------------
    def _recall(self, texts: list[str], stamp: tuple) -> np.ndarray | None:
        """Remembered course log-probs of every text (scored with the weights ``stamp`` names), or None."""
        if not texts or not self._memo or self.model.training:
            return None
        with self._memo_lock:
            if self._memo_stamp != stamp:
                self._memo.clear()
                return None
            hits = [self._memo.get(t) for t in texts]
        return np.stack(hits) if all(h is not None for h in hits) else None

    def _remember(self, texts: list[str], course_lp: np.ndarray, stamp: tuple) -> None:
        if self.model.training or len(texts) > 8:  # bulk scoring (evaluation) is not repeated
            return
        with self._memo_lock:
            if self._memo_stamp != stamp:
                self._memo.clear()
                self._memo_stamp = stamp
            for t, row in zip(texts, course_lp):
                self._memo.pop(t, None)
                self._memo[t] = row.copy()
            while len(self._memo) > 64:
                del self._memo[next(iter(self._memo))]

    @torch.inference_mode()
    def score(self, input_texts: list[str], skill_ids: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """``(course_logp [n, n_courses], job_logp [n, n_jobs + 1])``; the last job column is "stay".

        ``skill_ids`` are each person's current skills: they fix the skills a course adds, which
        the job part of the target is conditioned on.
        """
        n = len(input_texts)
        course_lp = np.zeros((n, len(self.course_ids)))
        job_lp = np.zeros((n, len(self.job_ids)))
        if self._courses_prior_only() and self._jobs_prior_only():  # the priors alone: no model call
            course_lp = self._with_prior(input_texts, course_lp)
            empty = np.zeros((0, len(self.job_ids)))
            for r, text in enumerate(input_texts):
                job_lp[r] = self._mix_jobs(text, course_lp[r], *self._job_heads(course_lp[r]), empty)
            return course_lp, job_lp
        stamp = weights_stamp(self._params)
        enc, enc_out = self._encode(input_texts, stamp)
        if self.fast and self._courses_prior_only():
            course_lp = self._with_prior(input_texts, course_lp)
            job_lp = self._fast_jobs(
                enc_out, enc["attention_mask"], course_lp, [set(s) for s in skill_ids], input_texts
            )
        elif self.fast:
            course_lp = self._with_prior(input_texts, self._fast_courses(enc_out, enc["attention_mask"]))
            job_lp = self._fast_jobs(
                enc_out, enc["attention_mask"], course_lp, [set(s) for s in skill_ids], input_texts
            )
        else:
            for r in range(n if not self._courses_prior_only() else 0):
                raw = self._logp(enc, enc_out, r, self.course_tokens, [0] * len(self.course_tokens))
                course_lp[r] = raw - _logsumexp(raw)
            course_lp = self._with_prior(input_texts, course_lp)
            for r in range(n):
                job_lp[r] = self._job_scores(enc, enc_out, r, course_lp[r], set(skill_ids[r]), input_texts[r])
        self._remember(input_texts, course_lp, stamp)
        return course_lp, job_lp

    # -- fast path: one decoder step scores every single-token name ------------------------
    def _next_token_logp(
        self, enc_out, mask, rows: list[int] | None, heads: list[list[int]], candidates: list[int]
    ) -> np.ndarray:
        """log p(candidate | head) renormalised over the candidates, one row per head; head ``i``
        is decoded on encoder row ``rows[i]`` (``rows`` None: head ``i`` on row ``i``)."""
        n, width = len(heads), max(len(h) for h in heads) + 1
        dec = torch.full((n, width), self.tok.pad_token_id, dtype=torch.long)
        dec[:, 0] = self.model.config.decoder_start_token_id
        for i, h in enumerate(heads):
            dec[i, 1 : len(h) + 1] = torch.tensor(h)
        last = torch.tensor([len(h) for h in heads])
        dec, last = dec.to(self.device), last.to(self.device)
        index = None if rows is None else torch.tensor(rows, device=self.device)
        if self._lean_on():
            # logits of the candidates alone: the log-softmax normaliser cancels in the renormalisation
            if enc_out.ctx is None:
                enc_out.ctx = self._lean.context(enc_out.last_hidden_state, mask)
            lp = (
                self._lean.next_logits(enc_out.ctx, index, dec, last, tuple(candidates)).float().cpu().numpy()
            )
            return lp - _logsumexp(lp)[:, None]
        hidden = enc_out.last_hidden_state
        if index is not None:
            hidden, mask = hidden[index], mask[index]
        out = self.model(
            encoder_outputs=(hidden,), attention_mask=mask, decoder_input_ids=dec, use_cache=False
        )
        logits = out.logits[torch.arange(n, device=self.device), last]
        lp = torch.log_softmax(logits.float(), dim=-1)[:, candidates].cpu().numpy()
        return lp - _logsumexp(lp)[:, None]

    def _fast_courses(self, enc_out, mask) -> np.ndarray:
        n = enc_out.last_hidden_state.shape[0]
        return self._next_token_logp(enc_out, mask, None, [self.course_prefix] * n, self.course_single)

    def _job_head(self, ci: int, skills: set[str]) -> list[int]:
        """Tokens of ``next_course: <title> | skills_gained: <what it adds> | next_job:`` (memoised)."""
        course = self.catalog.courses[self.course_ids[ci]]
        gained = tuple(self.catalog.skills[s].name for s in course.skills if s not in skills)
        key = (ci, gained)
        ids = self._head_ids.get(key)
        if ids is None:
            if len(self._head_ids) > 100_000:
                self._head_ids.clear()
            ids = self._ids(serialise_target(Step(course.title, list(gained), STAY)).rsplit(" ", 1)[0])
            self._head_ids[key] = ids
        return ids

    def _fast_jobs(
        self, enc_out, mask, course_lp: np.ndarray, skills: list[set[str]], texts: list[str]
    ) -> np.ndarray:
        """Job log-probs for every row, mixed over each row's ``k`` likeliest courses: the heads of
        all rows go through one decoder call."""
        rows, heads, weights, tops = [], [], [], []
        for r in range(course_lp.shape[0]):
            top, w = self._job_heads(course_lp[r])
            tops.append(top)
            weights.append(w)
            for ci in top:
                rows.append(r)
                heads.append(self._job_head(int(ci), skills[r]))
        lp = self._next_token_logp(enc_out, mask, rows, heads, self.job_single) if heads else None
        out, at = np.zeros((course_lp.shape[0], len(self.job_ids))), 0
        for r, w in enumerate(weights):
            head_lp = lp[at : at + len(w)] if lp is not None else np.zeros((0, len(self.job_ids)))
            out[r] = self._mix_jobs(texts[r], course_lp[r], tops[r], w, head_lp)
            at += len(w)
        return out

    def _job_heads(self, course_lp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the courses whose next-job head the model decodes: the ``k`` likeliest, none when the
        job prior takes none of the model's scores; their log-probs renormalised over them)."""
        if self._jobs_prior_only():
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        top = np.argsort(-course_lp, kind="stable")[: self.k]
        return top, course_lp[top] - _logsumexp(course_lp[top])

    def _mix_jobs(
        self, text: str, course_lp: np.ndarray, top: np.ndarray, w: np.ndarray, head_lp
    ) -> np.ndarray:
        """log P(next job) for the input ``text``: the job prior's mixture over every course with the model's
        job log-probs ``head_lp`` for the ``top`` courses; without a job prior, the model's mixture
        over ``top`` (weights ``w``)."""
        if self.job_prior is None:
            return _logsumexp(w[:, None] + head_lp, axis=0)
        table = self.job_prior.for_text(text)
        return self.job_prior.combine(table, np.exp(course_lp), top, head_lp)

    def _logp(self, enc, enc_out, r, targets, start):
        if self.kind == "causal":
            return self._causal_logp(enc[r], targets, start)
        return self._seq2seq_logp(enc_out, enc["attention_mask"], r, targets, start)

    def _job_scores(
        self, enc, enc_out, r: int, course_lp: np.ndarray, skills: set[str], text: str
    ) -> np.ndarray:
        top, weights = self._job_heads(course_lp)
        mixed = []
        job_titles = [self.catalog.jobs[j].title for j in self.job_ids[:-1]] + [STAY]
        for ci in top:
            course = self.catalog.courses[self.course_ids[ci]]
            gained = [self.catalog.skills[s].name for s in course.skills if s not in skills]
            head = (
                serialise_target(Step(course.title, gained, STAY)).rsplit(" | next_job:", 1)[0]
                + " | next_job:"
            )
            start = len(self._ids(head))
            targets = [
                self._ids(serialise_target(Step(course.title, gained, t)), eos=True) for t in job_titles
            ]
            raw = self._logp(enc, enc_out, r, targets, [start] * len(targets))
            mixed.append(raw - _logsumexp(raw))
        head_lp = np.stack(mixed) if mixed else np.zeros((0, len(self.job_ids)))
        return self._mix_jobs(text, course_lp, top, weights, head_lp)


# -- the model as a scorer -----------------------------------------------------------------------
class ModelScorer:
    """The baselines' ``score(rows) -> (course_logp, job_logp)`` over a :class:`CatalogScorer`.

    Reads ``input_text`` and ``skill_ids`` from each row and scores in batches of ``batch_size``
    (with a progress bar unless ``progress=False``). Columns are in catalog order, "stay" last.
    """

    def __init__(
        self,
        catalog_scorer: CatalogScorer,
        batch_size: int = 16,
        progress: bool = True,
        desc: str = "model scoring",
    ) -> None:
        self.scorer, self.batch_size, self.progress, self.desc = (
            catalog_scorer,
            max(1, int(batch_size)),
            progress,
            desc,
        )
        self.name = "model"

    def score(self, rows: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
        from tqdm.auto import tqdm

        rows = list(rows)
        n_c, n_j = len(self.scorer.course_ids), len(self.scorer.job_ids)
        if not rows:
            return np.zeros((0, n_c)), np.zeros((0, n_j))
        cs, js = [], []
        bar = tqdm(
            total=len(rows),
            desc=self.desc,
            disable=not self.progress or len(rows) <= self.batch_size,
            leave=False,
        )
        for b in range(0, len(rows), self.batch_size):
            part = rows[b : b + self.batch_size]
            c, j = self.scorer.score(
                [r["input_text"] for r in part], [list(r.get("skill_ids") or []) for r in part]
            )
            cs.append(np.asarray(c, dtype=np.float64))
            js.append(np.asarray(j, dtype=np.float64))
            bar.update(len(part))
        bar.close()
        return np.concatenate(cs), np.concatenate(js)
