"""A lean T5 forward: T5's eval-mode and teacher-forced training forwards in plain torch ops.

:class:`_LeanT5` runs the scoring forward of :class:`careerpath.model.scoring.CatalogScorer`'s fast
path on the model's own weights, in fewer, larger ops than transformers' modules;
:class:`LeanT5Training` is the same maths on the live parameters for training. Both return None
from ``build`` for any model they do not mirror exactly, which then runs through the model itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from careerpath.model.modeling import input_weight, item_content, output_weight

# -- a lean T5 forward --------------------------------------------------------------------------
# the classes whose forward the lean path mirrors (SeparateHeadT5 only unties the output layer)
LEAN_CLASSES = ("T5ForConditionalGeneration", "SeparateHeadT5")
_MIN = torch.finfo(torch.float32).min


def _attend(q, k, v, mask):
    """T5's unscaled attention ``softmax(q k^T + mask) v``.

    A mask that needs a gradient (the trained position bias of the training forward) goes through
    plain ops, under autocast where it is on: ``sdpa`` would take its math path anyway, whose
    safe softmax checks every row for all -inf (T5 masks with the dtype's lowest value, as
    transformers' eager attention does). The mask is added in place: the product's backward needs
    q and k, not its output. Other masks go to ``sdpa``'s fused kernel, in float32 under CPU
    autocast: the CPU's bfloat16 flash attention (and its backward) is slower than its float32
    one, unlike its bfloat16 matmuls. (Plain bfloat16 ops for the decoder's cross-attention were
    2-3% faster a training step but took 300 MB more memory in `train.py`, most likely oneDNN's
    kernels cached per (target, source) width pair; in float32 they were no faster.)"""
    if mask is not None and mask.requires_grad:
        s = q @ k.transpose(-1, -2)
        s = s.add_(mask) if s.dtype == mask.dtype else s + mask
        return torch.softmax(s, dim=-1) @ v
    if q.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask, scale=1.0)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0)


class RMSNorm(torch.autograd.Function):
    """``F.rms_norm(x, (d,), w, eps)`` with its gradient written out: on the CPU, torch runs
    rms_norm's backward as the autograd graph of its decomposition (pow, mean, rsqrt, three
    products: about 16 operations), here 7. ``dx = rstd (g - xhat mean(g xhat))`` with
    ``g = dy w``, ``xhat = x rstd``; ``dw = sum(dy xhat)``. ``w`` None: no weight (``g = dy``),
    for a norm whose weight is folded into the matrix after it."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor | None, eps: float) -> torch.Tensor:
        rstd = torch.rsqrt(x.pow(2).mean(-1, keepdim=True).add_(eps))
        xhat = x * rstd
        ctx.save_for_backward(xhat, rstd, w)
        return xhat if w is None else xhat * w

    @staticmethod
    def backward(ctx, dy: torch.Tensor):
        xhat, rstd, w = ctx.saved_tensors
        dx = dw = None
        if ctx.needs_input_grad[0]:
            g = dy if w is None else dy * w
            dx = torch.addcmul(g, xhat, (g * xhat).mean(-1, keepdim=True), value=-1.0).mul_(rstd)
        if ctx.needs_input_grad[1]:
            dw = (dy * xhat).reshape(-1, xhat.shape[-1]).sum(0)
        return dx, dw, None


def weights_stamp(params: list[torch.Tensor]) -> tuple:
    """Changes whenever one of ``params`` is modified in place (its version counter) or re-stored."""
    return tuple((p._version, p.data_ptr()) for p in params)


class _LeanT5:
    """T5ForConditionalGeneration's eval-mode forward in plain torch ops, on the model's own weights.

    The tiny T5's layers are so small that on CPU transformers' per-module Python (masks, output
    records, cache objects, hooks) costs more than the arithmetic; this runs the same maths (RMS
    norms, unscaled attention with the first layer's relative position bias, the same ``sdpa``
    kernel) in fewer, larger ops: q/k/v projections fused into one matmul on pre-transposed
    weights, and output logits only for the candidate tokens (the log-softmax over the whole
    vocabulary cancels when the scores are renormalised over the candidates). The fused weights are
    rebuilt whenever a parameter changes (tensor version counters and storage), so in-place weight
    updates are seen. :meth:`build` returns None for anything it does not mirror exactly (other
    architectures, adapters, hooks, patched forwards, non-float32 weights), which then goes through
    the model itself.
    """

    def __init__(self, model):
        cfg = model.config
        self.model = model
        self.n_heads, self.d_kv = cfg.num_heads, cfg.d_kv
        self.buckets, self.max_distance = (
            cfg.relative_attention_num_buckets,
            cfg.relative_attention_max_distance,
        )
        self.relu = cfg.dense_act_fn == "relu" and not cfg.is_gated_act
        scale = getattr(cfg, "scale_decoder_outputs", cfg.tie_word_embeddings)
        self.out_scale = cfg.d_model**-0.5 if scale else None
        self.params = list(model.parameters())
        self._stamp: tuple | None = None
        self._heads_w: dict[tuple, torch.Tensor] = {}
        self._buckets: dict[tuple, torch.Tensor] = {}
        self._sync(self.stamp())

    @classmethod
    def build(cls, model, autocast_wrapped: bool = False) -> _LeanT5 | None:
        """``autocast_wrapped``: the model's own forward may be patched (accelerate's autocast
        wrapper, which the caller then applies itself); any other patch or hook still refuses."""
        if type(model).__name__ not in LEAN_CLASSES or not model.config.is_encoder_decoder:
            return None
        if any(p.dtype != torch.float32 for p in model.parameters()):
            return None
        for m in model.modules():  # hooks or a patched forward (e.g. autocast) would be bypassed
            patched = "forward" in m.__dict__ and not (autocast_wrapped and m is model)
            if m._forward_hooks or m._forward_pre_hooks or patched:
                return None
        if torch.nn.modules.module._global_forward_hooks or torch.nn.modules.module._global_forward_pre_hooks:
            return None
        try:
            return cls(model)
        except (AttributeError, IndexError):
            return None

    # -- weights ------------------------------------------------------------------------
    def stamp(self) -> tuple:
        """Changes whenever a parameter is modified in place or given new storage."""
        return weights_stamp(self.params)

    def _sync(self, stamp: tuple) -> None:
        """(Re)build the fused, transposed weights when any parameter changed since the last build."""
        if stamp == self._stamp:
            return
        m = self.model
        with torch.no_grad():
            self.enc_embed = self.dec_embed = input_weight(m).detach()
            self.enc_rel = m.encoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight.detach()
            self.dec_rel = m.decoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight.detach()
            self.enc_layers = [self._layer(b, cross=False) for b in m.encoder.block]
            self.dec_layers = [self._layer(b, cross=True) for b in m.decoder.block]
            self.enc_final = self._norm(m.encoder.final_layer_norm)
            self.dec_final = self._norm(m.decoder.final_layer_norm)
        self._heads_w.clear()
        self._stamp = stamp

    @staticmethod
    def _norm(ln):
        return ln.weight.detach(), ln.variance_epsilon

    @staticmethod
    def _t(*linears) -> torch.Tensor:
        return torch.cat([lin.weight.detach() for lin in linears]).t().contiguous()

    def _layer(self, block, cross: bool) -> dict:
        sa = block.layer[0].SelfAttention
        ff = block.layer[-1].DenseReluDense
        layer = {
            "ln_sa": self._norm(block.layer[0].layer_norm),
            "qkv": self._t(sa.q, sa.k, sa.v),
            "o": self._t(sa.o),
            "ln_ff": self._norm(block.layer[-1].layer_norm),
            "wo": self._t(ff.wo),
        }
        if hasattr(ff, "wi_0"):
            layer["wi"], layer["wi_1"], layer["act"] = self._t(ff.wi_0), self._t(ff.wi_1), ff.act
        else:
            layer["wi"], layer["wi_1"], layer["act"] = self._t(ff.wi), None, ff.act
        if cross:
            ca = block.layer[1].EncDecAttention
            layer["ln_ca"] = self._norm(block.layer[1].layer_norm)
            layer["ca_q"], layer["ca_kv"], layer["ca_o"] = self._t(ca.q), self._t(ca.k, ca.v), self._t(ca.o)
        return layer

    def _out_weights(self, candidates: tuple[int, ...]) -> torch.Tensor:
        w = self._heads_w.get(candidates)
        if w is None:
            head = output_weight(self.model).detach()
            w = head[torch.tensor(candidates, device=head.device)].t().contiguous()
            self._heads_w[candidates] = w
        return w

    # -- pieces ---------------------------------------------------------------------------
    @staticmethod
    def _rms(x, norm):
        w, eps = norm
        return F.rms_norm(x, (x.shape[-1],), w, eps)

    def _ff(self, x, lay):
        h = x @ lay["wi"]
        if lay["wi_1"] is not None:
            h = lay["act"](h) * (x @ lay["wi_1"])
        elif self.relu:
            h = h.relu_()
        else:
            h = lay["act"](h)
        return h @ lay["wo"]

    def _self_attend(self, x, lay, mask):
        b, n, _ = x.shape
        h = self._rms(x, lay["ln_sa"])
        q, k, v = (h @ lay["qkv"]).view(b, n, 3, self.n_heads, self.d_kv).permute(2, 0, 3, 1, 4).unbind(0)
        a = _attend(q, k, v, mask)
        return x + a.transpose(1, 2).reshape(b, n, -1) @ lay["o"]

    def _bias(self, table, length: int, decoder: bool) -> torch.Tensor:
        """``[1, heads, length, length]`` relative position bias (causal positions masked for the
        decoder). The bucket of (query i, key j) depends on j - i alone, so one bucket matrix for
        the longest length seen serves every shorter one as its top-left block."""
        key = (decoder, table.device)
        cached = self._buckets.get(key)
        if cached is None or cached[0].shape[0] < length:
            from transformers.models.t5.modeling_t5 import T5Attention

            size = max(length, 64)
            rel = torch.arange(size)[None, :] - torch.arange(size)[:, None]
            idx = T5Attention._relative_position_bucket(
                rel, bidirectional=not decoder, num_buckets=self.buckets, max_distance=self.max_distance
            ).to(table.device)
            causal = torch.ones(size, size, dtype=torch.bool, device=table.device).tril()
            cached = self._buckets[key] = (idx, causal)
        idx, causal = cached
        bias = F.embedding(idx[:length, :length], table).permute(2, 0, 1).unsqueeze(0)
        return torch.where(causal[:length, :length], bias, _MIN) if decoder else bias

    @staticmethod
    def _additive(mask: torch.Tensor, dtype) -> torch.Tensor:
        """``[b, 1, 1, L]``: 0 where ``mask`` is set, the dtype's lowest value on padding."""
        add = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask.bool(), _MIN)
        return add[:, None, None, :]

    # -- encoder / decoder ----------------------------------------------------------------
    def encode(self, ids: torch.Tensor, mask: torch.Tensor, stamp: tuple | None = None) -> torch.Tensor:
        """Encoder last hidden state ``[b, L, d]``. ``stamp``: :meth:`stamp` if the caller has it;
        :meth:`context` and :meth:`next_logits` then use the weights this call saw."""
        self._sync(self.stamp() if stamp is None else stamp)
        x = F.embedding(ids, self.enc_embed)
        length = ids.shape[1]
        bias = self._bias(self.enc_rel, length, decoder=False)
        if not bool(mask.all()):  # padding: an additive mask, as transformers builds from a float mask
            bias = bias + self._additive(mask, bias.dtype)
        for lay in self.enc_layers:
            x = self._self_attend(x, lay, bias)
            x = x + self._ff(self._rms(x, lay["ln_ff"]), lay)
        return self._rms(x, self.enc_final)

    def context(self, hidden: torch.Tensor, mask: torch.Tensor):
        """What every decoder call on these encoder outputs shares: cross-attention keys/values, mask."""
        b, length, _ = hidden.shape
        kv = [
            (hidden @ lay["ca_kv"])
            .view(b, length, 2, self.n_heads, self.d_kv)
            .permute(2, 0, 3, 1, 4)
            .unbind(0)
            for lay in self.dec_layers
        ]
        return kv, None if bool(mask.all()) else self._additive(mask, hidden.dtype)

    def next_logits(
        self,
        ctx,
        rows: torch.Tensor | None,
        dec: torch.Tensor,
        last: torch.Tensor,
        candidates: tuple[int, ...],
    ) -> torch.Tensor:
        """Logits ``[n, len(candidates)]`` of the candidate tokens after ``dec[i, : last[i] + 1]``, on
        encoder row ``rows[i]`` (all rows in order: None)."""
        kv, add = ctx
        if rows is not None:
            kv = [(k[rows], v[rows]) for k, v in kv]
            add = add[rows] if add is not None else None
        x = self._decode(kv, add, dec)
        x = self._rms(x[torch.arange(dec.shape[0], device=x.device), last], self.dec_final)
        if self.out_scale is not None:
            x = x * self.out_scale
        return x @ self._out_weights(candidates)

    def _decode(self, kv, add, dec: torch.Tensor) -> torch.Tensor:
        """Decoder hidden states ``[n, width, d]`` (before the final norm) for ``dec``."""
        x = F.embedding(dec, self.dec_embed)
        n, width = dec.shape
        bias = self._bias(self.dec_rel, width, decoder=True)
        for lay, (ck, cv) in zip(self.dec_layers, kv, strict=True):
            x = self._self_attend(x, lay, bias)
            h = self._rms(x, lay["ln_ca"])
            q = (h @ lay["ca_q"]).view(n, width, self.n_heads, self.d_kv).transpose(1, 2)
            a = _attend(q, ck, cv, add)
            x = x + a.transpose(1, 2).reshape(n, width, -1) @ lay["ca_o"]
            x = x + self._ff(self._rms(x, lay["ln_ff"]), lay)
        return x


class LeanT5Training(_LeanT5):
    """The teacher-forced training forward of :class:`_LeanT5`'s maths on the *live* parameters:
    autograd flows into the model's own weights, so an optimizer over ``model.parameters()``
    trains the model exactly as through ``model(**batch)`` (logits and gradients are tested equal).
    The fused q/k/v weights are concatenated from the parameters on every call (cheap, and their
    gradients split back by autograd). :meth:`build` returns None for anything it does not
    mirror: besides :class:`_LeanT5`'s conditions, dropout (the default tiny T5 has none)."""

    autocast = None  # a context manager factory the forward runs under (mixed precision), or None

    @classmethod
    def build(cls, model, autocast=None) -> LeanT5Training | None:
        """``autocast``: the model's forward is wrapped by accelerate for mixed precision (the
        wrapper accelerate's ``prepare`` puts on the model, nothing else) and the lean forward is
        to run under this context manager factory instead (``accelerator.autocast``)."""
        if getattr(model.config, "dropout_rate", 1.0) != 0.0:
            return None
        if autocast is None:
            return super().build(model)
        if "_original_forward" not in model.__dict__:  # not accelerate's wrapper
            return None
        lean = super().build(model, autocast_wrapped=True)
        if lean is not None:
            lean.autocast = autocast
        return lean

    def stamp(self) -> tuple:
        return ()

    def _sync(self, stamp: tuple) -> None:
        m = self.model
        self.content = item_content(m)  # one product for the input and output matrices (and its gradient)
        self.enc_embed = self.dec_embed = input_weight(m, self.content)
        self.enc_rel = m.encoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight
        self.dec_rel = m.decoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight
        self.enc_layers = [self._folded(self._layer(b, cross=False)) for b in m.encoder.block]
        self.dec_layers = [self._layer(b, cross=True) for b in m.decoder.block]
        w, eps = self._norm(m.encoder.final_layer_norm)
        self.enc_final = (None, eps)  # its weight goes into every decoder layer's key/value matrix
        for lay in self.dec_layers:
            lay["ca_kv"] = w[:, None] * lay["ca_kv"]
        self.dec_final = self._norm(m.decoder.final_layer_norm)

    @staticmethod
    def _folded(lay: dict) -> dict:
        """An encoder layer with its norms' weights folded into the matrices after them:
        ``(xhat w) W = xhat (diag(w) W)``. The encoder's activations (batch x source length rows)
        are far larger than these matrices, so scaling the matrix instead saves an activation-sized
        product forward and two backward per norm; autograd still gives ``w`` its gradient."""
        w, eps = lay["ln_sa"]
        lay["ln_sa"], lay["qkv"] = (None, eps), w[:, None] * lay["qkv"]
        w, eps = lay["ln_ff"]
        lay["ln_ff"], lay["wi"] = (None, eps), w[:, None] * lay["wi"]
        if lay["wi_1"] is not None:
            lay["wi_1"] = w[:, None] * lay["wi_1"]
        return lay

    @staticmethod
    def _norm(ln):
        return ln.weight, ln.variance_epsilon

    @staticmethod
    def _rms(x, norm):
        w, eps = norm
        if x.dtype == torch.float32 and (w is None or w.dtype == torch.float32) and torch.is_grad_enabled():
            return RMSNorm.apply(x, w, eps)
        return F.rms_norm(x, (x.shape[-1],), w, eps)

    @staticmethod
    def _t(*linears) -> torch.Tensor:
        w = linears[0].weight if len(linears) == 1 else torch.cat([lin.weight for lin in linears])
        return w.t()

    def logits(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor,
        keep: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``model(input_ids=..., attention_mask=..., labels=labels).logits``: ``[b, T, vocab]``;
        with ``keep`` (``[b, T]`` bool), only those positions' rows, ``[keep.sum(), vocab]`` (the
        output layer is not run on the others)."""
        if self.autocast is not None:
            with self.autocast():
                return self._logits(input_ids, attention_mask, labels, keep).float()
        return self._logits(input_ids, attention_mask, labels, keep)

    def _logits(self, input_ids, attention_mask, labels, keep=None) -> torch.Tensor:
        hidden = self.encode(input_ids, attention_mask)
        kv, add = self.context(hidden, attention_mask)
        x = self._decode(kv, add, self.model._shift_right(labels))
        x = self._rms(x if keep is None else x[keep], self.dec_final)
        if self.out_scale is not None:
            x = x * self.out_scale
        return x @ output_weight(self.model, self.content).t()


class _EncoderOut:
    """Encoder outputs of one batch; ``ctx`` (the lean decoder's shared keys/values) is made once."""

    __slots__ = ("last_hidden_state", "ctx")

    def __init__(self, hidden: torch.Tensor):
        self.last_hidden_state, self.ctx = hidden, None
