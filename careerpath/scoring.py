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
import torch.nn.functional as F

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


# -- a lean T5 forward --------------------------------------------------------------------------
_MIN = torch.finfo(torch.float32).min


class _LeanT5:
    """T5ForConditionalGeneration's eval-mode forward in plain torch ops, on the model's own weights.

    The tiny T5's layers are so small that on CPU transformers' per-module Python (masks, output
    records, cache objects, hooks) costs more than the arithmetic; this runs the same maths (RMS
    norms, unscaled attention with the first layer's relative position bias, the same ``sdpa``
    kernel) with none of that. It holds references to the model's parameters, so in-place weight
    updates are seen; :meth:`build` returns None for anything it does not mirror exactly (other
    architectures, adapters, non-float32 weights), which then goes through the model itself.
    """

    def __init__(self, model):
        cfg = model.config
        self.model = model
        self.n_heads, self.d_kv = cfg.num_heads, cfg.d_kv
        self.buckets, self.max_distance = (
            cfg.relative_attention_num_buckets,
            cfg.relative_attention_max_distance,
        )
        self.enc_embed = model.encoder.embed_tokens.weight
        self.dec_embed = model.decoder.embed_tokens.weight
        self.lm_head = model.lm_head.weight
        scale = getattr(cfg, "scale_decoder_outputs", cfg.tie_word_embeddings)
        self.out_scale = cfg.d_model**-0.5 if scale else None
        self.enc_rel = model.encoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight
        self.dec_rel = model.decoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight
        self.enc_layers = [self._layer(b, cross=False) for b in model.encoder.block]
        self.dec_layers = [self._layer(b, cross=True) for b in model.decoder.block]
        self.enc_final = self._norm(model.encoder.final_layer_norm)
        self.dec_final = self._norm(model.decoder.final_layer_norm)
        self._buckets: dict[tuple, torch.Tensor] = {}

    @classmethod
    def build(cls, model) -> _LeanT5 | None:
        if type(model).__name__ != "T5ForConditionalGeneration" or not model.config.is_encoder_decoder:
            return None
        if any(p.dtype != torch.float32 for p in model.parameters()):
            return None
        try:
            return cls(model)
        except AttributeError:
            return None

    @staticmethod
    def _norm(ln):
        return ln.weight, ln.variance_epsilon

    def _layer(self, block, cross: bool):
        sa = block.layer[0].SelfAttention
        ff = block.layer[-1].DenseReluDense
        layer = {
            "ln_sa": self._norm(block.layer[0].layer_norm),
            "sa": (sa.q.weight, sa.k.weight, sa.v.weight, sa.o.weight),
            "ln_ff": self._norm(block.layer[-1].layer_norm),
        }
        if hasattr(ff, "wi_0"):
            layer["ff"] = (ff.wi_0.weight, ff.wi_1.weight, ff.wo.weight, ff.act)
        else:
            layer["ff"] = (ff.wi.weight, None, ff.wo.weight, ff.act)
        if cross:
            ca = block.layer[1].EncDecAttention
            layer["ln_ca"] = self._norm(block.layer[1].layer_norm)
            layer["ca"] = (ca.q.weight, ca.k.weight, ca.v.weight, ca.o.weight)
        return layer

    # -- pieces ---------------------------------------------------------------------------
    @staticmethod
    def _rms(x, norm):
        w, eps = norm
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    @staticmethod
    def _ff(x, ff):
        wi, wi_1, wo, act = ff
        if wi_1 is None:
            h = torch.relu(F.linear(x, wi)) if isinstance(act, torch.nn.ReLU) else act(F.linear(x, wi))
        else:
            h = act(F.linear(x, wi)) * F.linear(x, wi_1)
        return F.linear(h, wo)

    def _heads(self, x, w):
        b, n, _ = x.shape
        return F.linear(x, w).view(b, n, self.n_heads, self.d_kv).transpose(1, 2)

    def _attend(self, x, q_w, k, v, o_w, mask):
        b, n, _ = x.shape
        a = F.scaled_dot_product_attention(self._heads(x, q_w), k, v, attn_mask=mask, scale=1.0)
        return F.linear(a.transpose(1, 2).reshape(b, n, -1), o_w)

    def _bias(self, table, q_len: int, k_len: int, decoder: bool) -> torch.Tensor:
        """``[1, heads, q_len, k_len]`` relative position bias (causal positions masked for the decoder)."""
        key = (decoder, q_len, k_len, table.device)
        idx = self._buckets.get(key)
        if idx is None:
            from transformers.models.t5.modeling_t5 import T5Attention

            rel = torch.arange(k_len)[None, :] - torch.arange(q_len)[:, None]
            idx = T5Attention._relative_position_bucket(
                rel, bidirectional=not decoder, num_buckets=self.buckets, max_distance=self.max_distance
            ).to(table.device)
            self._buckets[key] = idx
        bias = F.embedding(idx, table).permute(2, 0, 1).unsqueeze(0)
        if decoder:
            causal = torch.ones(q_len, k_len, dtype=torch.bool, device=table.device).tril()
            bias = torch.where(causal, bias, _MIN)
        return bias

    # -- encoder / decoder ----------------------------------------------------------------
    def encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Encoder last hidden state ``[b, L, d]``."""
        x = F.embedding(ids, self.enc_embed)
        length = ids.shape[1]
        bias = self._bias(self.enc_rel, length, length, decoder=False)
        if not bool(mask.all()):
            bias = torch.where(mask[:, None, None, :].bool(), bias, _MIN)
        for lay in self.enc_layers:
            h = self._rms(x, lay["ln_sa"])
            q, k, v, o = lay["sa"]
            x = x + self._attend(h, q, self._heads(h, k), self._heads(h, v), o, bias)
            x = x + self._ff(self._rms(x, lay["ln_ff"]), lay["ff"])
        return self._rms(x, self.enc_final)

    def context(self, hidden: torch.Tensor, mask: torch.Tensor):
        """What every decoder call on these encoder outputs shares: cross-attention keys/values, mask."""
        kv = [
            (self._heads(hidden, lay["ca"][1]), self._heads(hidden, lay["ca"][2])) for lay in self.dec_layers
        ]
        add = None
        if not bool(mask.all()):
            add = torch.zeros(mask.shape, dtype=hidden.dtype, device=hidden.device)
            add = add.masked_fill(~mask.bool(), _MIN)[:, None, None, :]
        return kv, add

    def next_logits(
        self, ctx, rows: torch.Tensor | None, dec: torch.Tensor, last: torch.Tensor
    ) -> torch.Tensor:
        """Logits ``[n, vocab]`` after ``dec[i, : last[i] + 1]``, on encoder row ``rows[i]`` (all rows: None)."""
        kv, add = ctx
        if rows is not None:
            kv = [(k[rows], v[rows]) for k, v in kv]
            add = add[rows] if add is not None else None
        x = F.embedding(dec, self.dec_embed)
        width = dec.shape[1]
        bias = self._bias(self.dec_rel, width, width, decoder=True)
        for lay, (ck, cv) in zip(self.dec_layers, kv, strict=True):
            h = self._rms(x, lay["ln_sa"])
            q, k, v, o = lay["sa"]
            x = x + self._attend(h, q, self._heads(h, k), self._heads(h, v), o, bias)
            h = self._rms(x, lay["ln_ca"])
            x = x + self._attend(h, lay["ca"][0], ck, cv, lay["ca"][3], add)
            x = x + self._ff(self._rms(x, lay["ln_ff"]), lay["ff"])
        x = x[torch.arange(x.shape[0], device=x.device), last]
        x = self._rms(x, self.dec_final)
        if self.out_scale is not None:
            x = x * self.out_scale
        return F.linear(x, self.lm_head)


class _EncoderOut:
    """Encoder outputs of one batch; ``ctx`` (the lean decoder's shared keys/values) is made once."""

    __slots__ = ("last_hidden_state", "ctx")

    def __init__(self, hidden: torch.Tensor):
        self.last_hidden_state, self.ctx = hidden, None


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
        # the fast path's model calls go through a lean re-implementation of T5's forward when the
        # model is a plain float32 T5 (same maths, none of transformers' per-module overhead)
        self._lean = _LeanT5.build(model) if self.fast else None
        self._head_ids: dict[tuple, list[int]] = {}

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
        enc = self._tokenise_direct(texts)
        if enc is None:
            self.tok.truncation_side = "right"
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

    def _encode(self, texts: list[str]):
        """Tokenised inputs and, for seq2seq, the one encoder pass every candidate shares."""
        enc = self._encode_inputs(texts)
        if self.kind == "causal":
            return enc, None
        if self._lean_on():
            return enc, _EncoderOut(self._lean.encode(enc["input_ids"], enc["attention_mask"]))
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
            job_lp = self._fast_jobs(enc_out, enc["attention_mask"], course_lp, [set(s) for s in skill_ids])
            return course_lp, job_lp
        for r in range(n):
            raw = self._logp(enc, enc_out, r, self.course_tokens, [0] * len(self.course_tokens))
            course_lp[r] = raw - _logsumexp(raw)
            job_lp[r] = self._job_scores(enc, enc_out, r, course_lp[r], set(skill_ids[r]))
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
            if enc_out.ctx is None:
                enc_out.ctx = self._lean.context(enc_out.last_hidden_state, mask)
            logits = self._lean.next_logits(enc_out.ctx, index, dec, last)
        else:
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

    def _fast_jobs(self, enc_out, mask, course_lp: np.ndarray, skills: list[set[str]]) -> np.ndarray:
        """Job log-probs for every row, mixed over each row's ``k`` likeliest courses: the heads of
        all rows go through one decoder call."""
        rows, heads, weights = [], [], []
        for r in range(course_lp.shape[0]):
            top = np.argsort(-course_lp[r], kind="stable")[: self.k]
            weights.append(course_lp[r][top] - _logsumexp(course_lp[r][top]))
            for ci in top:
                rows.append(r)
                heads.append(self._job_head(int(ci), skills[r]))
        lp = self._next_token_logp(enc_out, mask, rows, heads, self.job_single)
        out, at = np.zeros((course_lp.shape[0], len(self.job_ids))), 0
        for r, w in enumerate(weights):
            out[r] = _logsumexp(w[:, None] + lp[at : at + len(w)], axis=0)
            at += len(w)
        return out

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
