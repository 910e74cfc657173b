"""Exact full-catalog scoring: the model's log-probability of every catalog course and job.

This is the one ranking path of careerpath: evaluation, baselines comparison and the
recommendation engine all rank with it. No sampled shortlist: for each input every course title
is scored as the start of the target, ``next_course: <title> |``, from one encoder pass whose
output is shared by all candidates. Jobs are scored as the rest of the target, ``... | next_job:
<title>`` + end of text, given each of the ``job_course_k`` most likely courses (with the skills
the catalog says they add) and mixed by those courses' probabilities. Scores are log-softmax
normalised over the catalog, so they are probabilities a person can read.
"""

from __future__ import annotations

import numpy as np
import torch

from data_prep.catalog import Catalog
from data_prep.textformat import STAY, Step, serialise_target

PREFIX_SEP = " |"


def _logsumexp(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    return (m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))).squeeze(axis)


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
    ):
        self.model, self.tok, self.catalog, self.kind = model.eval(), tokenizer, catalog, kind
        self.k = job_course_k
        self.max_source_length = max_source_length
        self.device = next(model.parameters()).device
        self.course_ids = list(catalog.courses)
        self.job_ids = list(catalog.jobs) + [STAY]
        titles = [catalog.courses[c].title for c in self.course_ids]
        course_targets = [
            serialise_target(Step(t, [], STAY)).split(" | skills_gained")[0] + PREFIX_SEP for t in titles
        ]
        self.course_tokens = [self._ids(t) for t in course_targets]
        # Fast path: when every name is one token after a shared prefix (the tiny T5's catalog
        # tokens), one decoder step gives the whole catalog's distribution at once.
        heads = [t[: -len(PREFIX_SEP)] for t in course_targets]
        self.course_prefix = self._ids("next_course:")
        self.course_single = self._single_tokens("next_course:", heads)
        job_names = [catalog.jobs[j].title for j in self.job_ids[:-1]] + [STAY]
        job_heads = [serialise_target(Step("x", [], t)).rsplit(" | ", 1)[1] for t in job_names]
        self.job_single = self._single_tokens("next_job:", job_heads)
        self.fast = (
            fast and kind != "causal" and self.course_single is not None and self.job_single is not None
        )

    def _single_tokens(self, prefix: str, texts: list[str]) -> list[int] | None:
        return single_token_ids(self.tok, prefix, texts)

    # -- tokenisation ---------------------------------------------------------------------
    def _ids(self, text: str, eos: bool = False) -> list[int]:
        ids = self.tok(text, add_special_tokens=False)["input_ids"]
        return ids + [self.tok.eos_token_id] if eos else ids

    def _encode_inputs(self, texts: list[str]):
        if self.kind == "causal":
            from careerpath.generation import build_prompt

            return [self._ids(build_prompt(t)) for t in texts]
        self.tok.truncation_side = "right"
        enc = self.tok(
            texts, padding=True, truncation=True, max_length=self.max_source_length, return_tensors="pt"
        )
        return {k: v.to(self.device) for k, v in enc.items()}

    def _encode(self, texts: list[str]):
        """Tokenised inputs and, for seq2seq, the one encoder pass every candidate shares."""
        enc = self._encode_inputs(texts)
        if self.kind == "causal":
            return enc, None
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
    @torch.inference_mode()
    def score_courses(self, input_texts: list[str]) -> np.ndarray:
        """``course_logp [n, n_courses]`` only: one decoder pass per input (what planning needs)."""
        enc, enc_out = self._encode(input_texts)
        if self.fast:
            return self._fast_courses(enc_out, enc["attention_mask"])
        out = np.zeros((len(input_texts), len(self.course_ids)))
        for r in range(len(input_texts)):
            raw = self._logp(enc, enc_out, r, self.course_tokens, [0] * len(self.course_tokens))
            out[r] = raw - _logsumexp(raw)
        return out

    @torch.inference_mode()
    def score(self, input_texts: list[str], skill_ids: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """``(course_logp [n, n_courses], job_logp [n, n_jobs + 1])``; the last job column is "stay".

        ``skill_ids`` are each person's current skills: they fix the skills a course adds, which
        the job part of the target is conditioned on.
        """
        n = len(input_texts)
        course_lp = np.zeros((n, len(self.course_ids)))
        job_lp = np.zeros((n, len(self.job_ids)))
        enc, enc_out = self._encode(input_texts)
        if self.fast:
            course_lp = self._fast_courses(enc_out, enc["attention_mask"])
            for r in range(n):
                job_lp[r] = self._fast_jobs(
                    enc_out, enc["attention_mask"], r, course_lp[r], set(skill_ids[r])
                )
            return course_lp, job_lp
        for r in range(n):
            raw = self._logp(enc, enc_out, r, self.course_tokens, [0] * len(self.course_tokens))
            course_lp[r] = raw - _logsumexp(raw)
            job_lp[r] = self._job_scores(enc, enc_out, r, course_lp[r], set(skill_ids[r]))
        return course_lp, job_lp

    # -- fast path: one decoder step scores every single-token name ------------------------
    def _next_token_logp(self, hidden, mask, heads: list[list[int]], candidates: list[int]) -> np.ndarray:
        """log p(candidate | head) renormalised over the candidates, one row per head."""
        n, width = len(heads), max(len(h) for h in heads) + 1
        dec = torch.full((n, width), self.tok.pad_token_id, dtype=torch.long)
        dec[:, 0] = self.model.config.decoder_start_token_id
        for i, h in enumerate(heads):
            dec[i, 1 : len(h) + 1] = torch.tensor(h)
        out = self.model(
            encoder_outputs=(hidden,),
            attention_mask=mask,
            decoder_input_ids=dec.to(self.device),
            use_cache=False,
        )
        last = torch.tensor([len(h) for h in heads])
        logits = out.logits[torch.arange(n), last].float()
        lp = torch.log_softmax(logits, dim=-1)[:, candidates].cpu().numpy()
        return lp - _logsumexp(lp)[:, None]

    def _fast_courses(self, enc_out, mask) -> np.ndarray:
        n = enc_out.last_hidden_state.shape[0]
        return self._next_token_logp(
            enc_out.last_hidden_state, mask, [self.course_prefix] * n, self.course_single
        )

    def _fast_jobs(self, enc_out, mask, r: int, course_lp: np.ndarray, skills: set[str]) -> np.ndarray:
        top = np.argsort(-course_lp, kind="stable")[: self.k]
        weights = course_lp[top] - _logsumexp(course_lp[top])
        heads = []
        for ci in top:
            course = self.catalog.courses[self.course_ids[ci]]
            gained = [self.catalog.skills[s].name for s in course.skills if s not in skills]
            heads.append(self._ids(serialise_target(Step(course.title, gained, STAY)).rsplit(" ", 1)[0]))
        k = len(heads)
        hidden = enc_out.last_hidden_state[r : r + 1].expand(k, -1, -1)
        lp = self._next_token_logp(hidden, mask[r : r + 1].expand(k, -1), heads, self.job_single)
        return _logsumexp(weights[:, None] + lp, axis=0)

    def _logp(self, enc, enc_out, r, targets, start):
        if self.kind == "causal":
            return self._causal_logp(enc[r], targets, start)
        return self._seq2seq_logp(enc_out, enc["attention_mask"], r, targets, start)

    def _job_scores(self, enc, enc_out, r: int, course_lp: np.ndarray, skills: set[str]) -> np.ndarray:
        top = np.argsort(-course_lp, kind="stable")[: self.k]
        weights = course_lp[top] - _logsumexp(course_lp[top])
        mixed = []
        job_titles = [self.catalog.jobs[j].title for j in self.job_ids[:-1]] + [STAY]
        for ci, w in zip(top, weights):
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
            mixed.append(w + raw - _logsumexp(raw))
        return _logsumexp(np.stack(mixed), axis=0)
