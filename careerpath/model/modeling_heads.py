"""The model's output layer and item embeddings: a T5 whose output layer is its own matrix
(:class:`SeparateHeadT5`), the content head that builds catalog rows from what each item is
(:class:`ItemContentHead`, :class:`ItemContentEmbedding`), and :func:`folded`, the context in which
they are plain modules (what a saved model holds, loadable by the plain T5 class).
"""

from __future__ import annotations

import contextlib
import math

import torch
from transformers import T5ForConditionalGeneration


class SeparateHeadT5(T5ForConditionalGeneration):
    """T5 whose output layer is a matrix of its own.

    transformers 5's ``T5Config`` always sets ``tie_word_embeddings`` to True (passing False only
    turns off the decoder's output scaling), so the plain class shares one matrix between the
    input embeddings and the output layer whatever the config asks. This class ties only the
    encoder's and decoder's input embeddings. It saves both matrices under the plain class's
    name (``architectures``), and the plain class loads them untied too, since they differ.
    """

    _tied_weights_keys = {
        "encoder.embed_tokens.weight": "shared.weight",
        "decoder.embed_tokens.weight": "shared.weight",
    }

    def __init__(self, config):
        super().__init__(config)
        self.lm_head.weight = torch.nn.Parameter(self.shared.weight.detach().clone())
        self.config.separate_lm_head = True


def has_separate_head(model) -> bool:
    """Whether the output layer is a tensor of its own (checked on the tensors, not the config)."""
    return model.lm_head.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr()


def untie_output_layer(model, tokenizer, catalog) -> int:
    """Start a :class:`SeparateHeadT5`'s output layer as the input embeddings scaled as a tied
    T5 scales its outputs (the same logits as a tied model at first), with every course row at
    zero: the course logits start flat, so a model trained on top of the course prior starts out
    as the prior alone, while the courses' *input* embeddings keep what they were given (their
    skills). Returns the number of course rows zeroed."""
    if not has_separate_head(model):
        raise ValueError(
            "untie_output_layer needs a model whose output layer is its own tensor (SeparateHeadT5)"
        )
    emb = model.get_input_embeddings().weight
    head = model.lm_head.weight
    unk = tokenizer.unk_token_id
    with torch.no_grad():
        head.copy_(emb * model.config.d_model**-0.5)
        rows = [tokenizer.convert_tokens_to_ids(" " + c.title) for c in catalog.courses.values()]
        rows = [r for r in rows if r is not None and r != unk]
        head[rows] = 0.0
    return len(rows)


class ItemContentHead(torch.nn.Linear):
    """An output layer whose catalog rows are built from the items' content.

    The logit of catalog item ``i`` (a course or job token) is ``h . (w_i + x_i W)``: ``w_i`` its own
    row of the output matrix (the item-id residual, ``weight``) and ``x_i W`` a vector computed from
    what the item is (``features``: provider, level, length and skills of a course; family, level
    and skills of a job) through one learned matrix ``W`` (``content``, started near zero, so the
    head starts within a few hundredths of the plain separate head). What the model learns about one
    provider or level is thereby shared by every course it describes, where an atomic course row
    would learn it course by course from about twenty choices each. The rows ``id_rows`` (the
    courses) keep their id part in ``item_id`` times ``id_scale`` instead of ``weight`` (whose rows
    there stay zero: the forward fills them with zeros, so their gradient is zero, in any copy of
    the module too), so it learns ``id_scale`` as fast: a small residual. Saved models hold
    the folded matrix (:meth:`folded_weight`) under the plain T5 name, so anyone loads them with the
    plain class.
    """

    def __init__(
        self,
        head: torch.nn.Linear,
        rows: torch.Tensor,
        features: torch.Tensor,
        init_std: float = 0.0,
        id_rows: torch.Tensor | None = None,
        id_scale: float = 1.0,
    ):
        super().__init__(head.in_features, head.out_features, bias=False)
        self.weight = head.weight
        self.register_buffer("item_rows", rows.long(), persistent=True)
        self.register_buffer("item_features", features.float(), persistent=True)
        self.content = torch.nn.Parameter(torch.zeros(features.shape[1], head.in_features))
        if init_std:
            torch.nn.init.normal_(self.content, std=init_std)
        # rows whose id part is a separate, scaled parameter (the courses: a *small* id residual, so
        # that what one course's few choices say is not learned as that course's own quirk)
        self.id_scale = float(id_scale)
        rows_ = torch.zeros(0, dtype=torch.long) if id_rows is None else id_rows.long()
        self.register_buffer("id_rows", rows_, persistent=True)
        self.item_id = torch.nn.Parameter(torch.zeros(len(rows_), head.in_features))
        if len(rows_):
            with torch.no_grad():
                self.item_id.copy_(self.weight[rows_] / self.id_scale)
                self.weight[rows_] = 0.0

    def folded_weight(self, content: torch.Tensor | None = None) -> torch.Tensor:
        """The output matrix the logits use: the id rows plus each item's content vector
        (``content``: :func:`item_content` of this head, when the caller has it already). The
        ``id_rows`` of ``weight`` are zero and filled with zeros here, which stops their gradient
        (a tensor hook would do the same, but a deep copy of the module drops it)."""
        content = _content(self) if content is None else content
        if not len(self.id_rows):
            return self.weight.index_add(0, self.item_rows, content)
        w = self.weight.index_fill(0, self.id_rows, 0.0)  # a new tensor: the adds below go in place
        w.index_add_(0, self.item_rows, content)
        return w.index_add_(0, self.id_rows, self.item_id * self.id_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x, self.folded_weight())


class ItemContentEmbedding(torch.nn.Embedding):
    """The input side of an :class:`ItemContentHead`: an item token's input vector is its own row
    plus the same content vector ``x_i W`` the head adds to its output row (one ``W``, held by the
    head), so what the model learns about a job family or a provider is the same vector where the
    item is read (the person's job, the courses they took) and where it is scored."""

    def __init__(self, embedding: torch.nn.Embedding, head: ItemContentHead):
        super().__init__(embedding.num_embeddings, embedding.embedding_dim, padding_idx=embedding.padding_idx)
        self.weight = embedding.weight
        object.__setattr__(self, "_head", head)  # not a sub-module: W is saved once, with the head

    def folded_weight(self, content: torch.Tensor | None = None) -> torch.Tensor:
        content = _content(self._head) if content is None else content
        return self.weight.index_add(0, self._head.item_rows, content)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.embedding(ids, self.folded_weight(), self.padding_idx)


def _content(head: ItemContentHead) -> torch.Tensor:
    """The items' content vectors ``x_i W``, in the weights' dtype (under autocast the matmul is not)."""
    return (head.item_features @ head.content).to(head.weight.dtype)


def item_content(model) -> torch.Tensor | None:
    """The items' content vectors of ``model``'s :class:`ItemContentHead` (None without one): one
    product that :func:`output_weight` and :func:`input_weight` can share within a forward pass,
    so that its gradient is one product too."""
    head = getattr(model, "lm_head", None)
    return _content(head) if isinstance(head, ItemContentHead) else None


def output_weight(model, content: torch.Tensor | None = None) -> torch.Tensor:
    """The matrix behind ``model.lm_head`` (content folded in for an :class:`ItemContentHead`;
    ``content``: :func:`item_content`, if the caller has it)."""
    head = model.lm_head
    return head.folded_weight(content) if isinstance(head, ItemContentHead) else head.weight


def input_weight(model, content: torch.Tensor | None = None) -> torch.Tensor:
    """The input embedding matrix (content folded in for an :class:`ItemContentEmbedding`;
    ``content``: :func:`item_content`, if the caller has it)."""
    emb = model.get_input_embeddings()
    return emb.folded_weight(content) if isinstance(emb, ItemContentEmbedding) else emb.weight


def item_features(catalog, tokenizer) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(token rows, features, feature names) of every catalog course and job with a token of its own.

    Courses: provider, level, log(1 + hours) and hours / 10 (as z-scores over the courses), cluster
    and skills taught; jobs: family, level and required skills (importance weights); one indicator
    per kind. Skill parts are scaled to unit length so that items with many skills do not get larger
    vectors."""
    unk = tokenizer.unk_token_id
    courses, jobs = list(catalog.courses.values()), list(catalog.jobs.values())
    names: list[str] = ["is_course", "is_job", "log1p_hours", "hours_per_10"]
    index: dict[str, int] = {}

    def col(name: str) -> int:
        if name not in index:
            index[name] = len(names)
            names.append(name)
        return index[name]

    rows, feats = [], []
    for item in courses + jobs:
        tok = tokenizer.convert_tokens_to_ids(" " + item.title)
        if tok is None or tok == unk:
            continue
        f: dict[int, float] = {}
        if hasattr(item, "provider"):  # a course
            f[0] = 1.0
            f[2], f[3] = math.log1p(item.hours), item.hours / 10.0
            f[col(f"provider={item.provider}")] = 1.0
            f[col(f"course_level={item.level}")] = 1.0
            if item.cluster >= 0:
                f[col(f"cluster={item.cluster}")] = 1.0
            skills = {s: 1.0 for s in item.skills}
        else:
            f[1] = 1.0
            f[col(f"family={item.family}")] = 1.0
            f[col(f"job_level={item.level}")] = 1.0
            skills = dict(item.skills)
        norm = sum(w * w for w in skills.values()) ** 0.5 or 1.0
        for s, w in skills.items():
            f[col(f"skill={s}")] = w / norm
        rows.append(tok)
        feats.append(f)
    x = torch.zeros(len(rows), len(names))
    for i, f in enumerate(feats):
        for j, v in f.items():
            x[i, j] = v
    is_course = x[:, 0] == 1
    for j in (2, 3):  # lengths as z-scores over the courses, on the one-hot features' scale
        vals = x[is_course, j]
        x[is_course, j] = (vals - vals.mean()) / (vals.std() if len(vals) > 1 and vals.std() > 0 else 1.0)
    return torch.tensor(rows, dtype=torch.long), x, names


CONTENT_INIT_STD = 0.002  # W starts near zero (logits within ~0.05 of the prior) but not at the saddle


def add_content_head(model, tokenizer, catalog, id_scale: float = 0.1) -> int:
    """Give a :class:`SeparateHeadT5` an :class:`ItemContentHead` (courses' id part scaled by
    ``id_scale``) and the matching :class:`ItemContentEmbedding`; returns the number of items."""
    if not has_separate_head(model):
        raise ValueError(
            "add_content_head needs a model whose output layer is its own tensor (SeparateHeadT5)"
        )
    if not id_scale > 0:
        raise ValueError(f"model.content_id_scale must be > 0, got {id_scale}")
    rows, feats, _ = item_features(catalog, tokenizer)
    model.lm_head = ItemContentHead(
        model.lm_head, rows, feats, CONTENT_INIT_STD, id_rows=rows[feats[:, 0] == 1], id_scale=id_scale
    )
    model.set_input_embeddings(ItemContentEmbedding(model.get_input_embeddings(), model.lm_head))
    return len(rows)


@contextlib.contextmanager
def folded(model):
    """A context in which ``model``'s output layer and input embeddings are plain modules holding
    the folded matrices (what a saved model holds, loadable by the plain class)."""
    head, emb = getattr(model, "lm_head", None), model.get_input_embeddings()
    if not isinstance(head, ItemContentHead):
        yield model
        return
    with torch.no_grad():
        plain = torch.nn.Linear(head.in_features, head.out_features, bias=False)
        plain.weight = torch.nn.Parameter(head.folded_weight().detach().clone())
        model.lm_head = plain
        if isinstance(emb, ItemContentEmbedding):
            flat = torch.nn.Embedding(emb.num_embeddings, emb.embedding_dim, padding_idx=emb.padding_idx)
            flat.weight = torch.nn.Parameter(emb.folded_weight().detach().clone())
            model.set_input_embeddings(flat)
    try:
        yield model
    finally:
        model.lm_head = head
        model.set_input_embeddings(emb)
