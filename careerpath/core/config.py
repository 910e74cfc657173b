"""Typed training configuration: a YAML file gives defaults, command-line flags override them.

Every field has a one-line help string (``field(metadata={"help": ...})``) so ``careerpath train --help``
documents the whole config. A flag names a field with its section, in dashes: ``--train.max-steps 5``
for the YAML key ``train: {max_steps: 5}``. Older spellings still work with a deprecation line on
stderr: underscores (``--train.max_steps``), the bare name when unique (``--max-steps``), and
``--set train.max_steps=5``.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import importlib.resources
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

MODEL_KINDS = ("tiny_t5", "seq2seq", "causal")


class ConfigError(ValueError):
    """A config file or flag that names an unknown field or holds a bad value."""


def bundled_config(name: str) -> Path:
    """The bundled config ``name`` (``"tiny_t5.yaml"``, ``"data/default.yaml"``): ``configs/<name>``.

    In a clone (editable install, or ``PYTHONPATH`` on the checkout) that is the repository's own
    ``configs/`` folder beside the code that runs, so an edit there is seen at once; in a regular
    install it is the package data ``careerpath_configs`` (pyproject.toml maps it onto ``configs/``).
    A path the user gives is never looked up here: it is used as is.
    """
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "configs").is_dir():
        path = checkout / "configs" / name
    else:
        try:
            path = Path(str(importlib.resources.files("careerpath_configs").joinpath(name)))
        except ModuleNotFoundError:
            path = None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"bundled config {name!r} not found ({path or 'no careerpath_configs package'}): "
            "reinstall careerpath (pip install .) or pass --config with a YAML file"
        )
    return path


def read_yaml(path: str | Path) -> dict:
    """A config file's top-level mapping ({} for an empty file); a missing or malformed file names itself."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config not found; pass --config with a YAML file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys, got {type(raw).__name__}")
    return raw


def check_keys(raw: dict, cls, where: str, what: str = "key") -> None:
    """Refuse keys of ``raw`` that are not fields of the dataclass ``cls``, naming them and the known ones."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown {what}(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )


def dataclass_from_yaml(cls, path: str | Path, overrides: dict | None = None):
    """A flat settings dataclass from a YAML file; ``overrides`` (command-line flags, None: unset) win."""
    raw = read_yaml(path)
    check_keys(raw, cls, str(path))
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return cls(**raw)


def _f(default, help: str):
    """A dataclass field with a help line; lists get a factory so instances do not share them."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class DataConfig:
    data_dir: str = _f("tests/assets/tiny_dataset", "dataset folder with train/validation/test.jsonl")
    max_train_examples: int = _f(0, "use only the first N training rows (0: all); for quick runs")
    max_eval_examples: int = _f(500, "validation rows used by the per-epoch generation eval (0: all)")
    max_source_length: int = _f(256, "input tokens kept (longer inputs are truncated from the left)")
    max_target_length: int = _f(64, "target tokens kept")


@dataclass
class ModelConfig:
    kind: str = _f("tiny_t5", "tiny_t5 (built from a config) | seq2seq (pretrained T5) | causal (decoder LM)")
    model_name: str = _f("", "Hub id, local folder, or pkg:<python package> holding a .gguf (causal)")
    vocab_size: int = _f(4000, "tiny_t5: tokenizer vocabulary size, trained on the training split only")
    min_frequency: int = _f(2, "tiny_t5: a merge must occur this often to enter the vocabulary")
    entity_tokens: bool = _f(
        True, "tiny_t5: one token per catalog skill, course and job name (from <data_dir>/catalog)"
    )
    entity_init: bool = _f(True, "tiny_t5: start course/job token embeddings from their skills' embeddings")
    tie_embeddings: bool = _f(
        True,
        "tiny_t5: one matrix for the input embeddings and the output layer. false: a separate output "
        "layer (as the input embeddings at first) whose course rows start at zero, so that with the course "
        "prior (train.course_prior) the model starts as the prior alone and learns only what it adds",
    )
    content_head: bool = _f(
        True,
        "tiny_t5 with tie_embeddings false: course and job output rows = an id row + a vector computed "
        "from the item's content (provider, level, hours, cluster, skills; family for jobs) by one learned "
        "matrix, so what is learned about a provider or level is shared by its items (modeling.ItemContentHead)",
    )
    content_id_scale: float = _f(
        0.1,
        "content_head: a course's own (id) part of its output row is a separate parameter times this, so it "
        "learns this much slower than what the course's content shares with other courses",
    )
    d_model: int = _f(128, "tiny_t5: hidden size")
    num_layers: int = _f(2, "tiny_t5: encoder layers (decoder has the same number)")
    num_heads: int = _f(4, "tiny_t5: attention heads")
    d_ff: int = _f(512, "tiny_t5: feed-forward size")
    dropout: float = _f(0.1, "tiny_t5: dropout rate")


@dataclass
class LoraSettings:
    enabled: bool = _f(False, "train LoRA adapters (peft) instead of all weights")
    r: int = _f(8, "LoRA rank")
    alpha: int = _f(16, "LoRA scaling numerator (scale = alpha / r)")
    dropout: float = _f(0.05, "dropout on the LoRA input")
    target_modules: list[str] = _f(["q", "v"], "module names that get adapters, e.g. [q, v] for T5")


COMPILE_MODES = ("no", "default", "reduce-overhead", "max-autotune")
"""``train.compile``: no, or a ``torch.compile`` mode."""


@dataclass
class TrainConfig:
    output_dir: str = _f("outputs/tiny_t5", "where the model, metrics, card and checkpoints go")
    lr: float = _f(1e-3, "peak learning rate (AdamW)")
    weight_decay: float = _f(0.0, "AdamW weight decay")
    warmup_ratio: float = _f(0.05, "share of optimizer steps spent warming up the learning rate")
    schedule: str = _f("linear", "learning-rate decay after warmup: linear | cosine | constant")
    epochs: int = _f(3, "passes over the training data")
    max_steps: int = _f(0, "stop after this many optimizer steps (0: run all epochs)")
    batch_size: int = _f(32, "examples per device per micro-batch")
    eval_batch_size: int = _f(64, "examples per generation batch in evaluation")
    grad_accum: int = _f(1, "micro-batches per optimizer step; simulates a larger batch")
    decision_weight: float = _f(
        1.0, "seq2seq: loss weight of the next-course and next-job name tokens (catalog tokens)"
    )
    soft_targets: str = _f(
        "auto",
        "seq2seq with one token per catalog name: learn the next-course and next-job positions from the "
        "generator's probabilities given the text (rows' probs_visible; synthetic data) instead of the one "
        "sampled choice. auto: when the data and tokenizer allow it | always: required | never",
    )
    course_prior: str = _f(
        "auto",
        "seq2seq with one token per catalog name and a dataset with catalog context: add the course prior "
        "(learner classes read from past choices) to the next-course logits and the job prior (readiness "
        "after the course taken) to the next-job logits, both fitted on the training rows, in the loss and "
        "everywhere the model ranks, so the model learns what they miss (careerpath/model/prior.py, job_prior.py; "
        "docs/priors.md). auto: when the model and data allow it | always: required | never",
    )
    course_cross: str = _f(
        "auto",
        "with a course prior: learn how the job held now (family, level) shifts the choice among courses "
        "(provider, cluster, level), a bilinear term fitted on the training rows on top of the prior and "
        "kept when it beats the prior alone on validation (careerpath/model/course_cross.py). Part of the model, "
        "not of the priors' baseline. auto | never",
    )
    lean_forward: bool = _f(
        True,
        "train a plain float32 T5 without dropout, in one process, through careerpath's lean forward "
        "(careerpath/model/scoring.py: the same maths in fewer torch ops, tested equal in logits and gradients) "
        "instead of transformers' modules; false: always transformers",
    )
    compile: str = _f(
        "no",
        "torch.compile the model (accelerate's TorchDynamoPlugin, inductor, the whole model, dynamic shapes): "
        "no | default | reduce-overhead (CUDA graphs: fewer kernel launches) | max-autotune. For a GPU, where "
        "the loop is bound by kernel launches; turns the lean forward off",
    )
    max_grad_norm: float = _f(1.0, "clip gradients to this norm (0: no clipping)")
    seed: int = _f(42, "seed for weights, dropout and data order")
    mixed_precision: str = _f(
        "auto",
        "auto (bf16 on a bf16 GPU or a CPU with AVX512-BF16/AMX, else no) | no | bf16 | fp16 (not for T5)",
    )
    eval_every_epoch: bool = _f(True, "run generation-based validation after each epoch")
    checkpoint_every: int = _f(0, "save resumable state every N optimizer steps (0: never)")
    resume_from_checkpoint: str = _f("", "'latest' or a checkpoint folder to continue from")
    init_from: str = _f(
        "", "warm-start from a trained output folder (full model or LoRA adapter) and its tokenizer"
    )
    log_every: int = _f(10, "write a log line every N optimizer steps")
    trackers: list[str] = _f([], "experiment trackers, e.g. [tensorboard]")
    num_threads: int = _f(0, "torch CPU threads per process (0: physical cores / local processes)")


@dataclass
class GenerationSettings:
    max_new_tokens: int = _f(48, "longest generated target, in tokens")
    num_beams: int = _f(1, "beam width (1: greedy)")


@dataclass
class HubSettings:
    push_to_hub: bool = _f(False, "upload the output folder to the Hugging Face Hub after training")
    hub_model_id: str = _f("", "Hub repo id, e.g. user/careerpath-tiny-t5")
    private: bool = _f(False, "create the Hub repo as private")


@dataclass
class FeedbackSettings:
    feedback_db: str = _f(
        "", "feedback store (SQLite) whose likes and dislikes join training (needs --train.init-from)"
    )
    loss_type: str = _f(
        "margin",
        "margin (rank-aware: move a rated course just across the top-k cut-off; needs one token per "
        "course name, else falls back) | unlikelihood (like: -log p, dislike: -log(1 - p))",
    )
    shown_k: int = _f(5, "margin loss: the cut-off, i.e. how many courses the demo shows")
    margin: float = _f(0.2, "margin loss: log-probability margin a disliked course must clear the cut-off by")
    keep_within: int = _f(
        10,
        "margin loss: a disliked course is pushed out of the top shown_k but kept within this rank (0: no floor)",
    )
    dislikes_to: str = _f(
        "reranker",
        "where dislikes go: reranker (a learned re-ranker of the model's top courses) | model (the loss) | both",
    )
    rerank_top_n: int = _f(10, "re-ranker: how many of the model's top courses it may re-order")
    rerank_strength: float = _f(
        6.0,
        "re-ranker: weight of log p(like) next to the model's log-probability (6: the best of 1, 3, 6 "
        "in simulate-feedback with the tiny T5, whose course prior makes its top choices sharp)",
    )
    like_weight: float = _f(1.0, "loss weight of a liked recommendation")
    dislike_weight: float = _f(1.0, "loss weight of a disliked one")
    max_per_user: int = _f(20, "feedback events per person counted at full weight; more are scaled down")
    loss_weight: float = _f(
        0.1, "weight of the feedback batch's loss next to the replayed batch (see README: the trade-off)"
    )
    feedback_batch_size: int = _f(32, "feedback examples per step")
    eval_test_examples: int = _f(600, "test rows scored after a feedback retrain (0: all)")


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainConfig = field(default_factory=TrainConfig)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    hub: HubSettings = field(default_factory=HubSettings)
    feedback: FeedbackSettings = field(default_factory=FeedbackSettings)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _sections() -> dict[str, type]:
    return {f.name: f.default_factory for f in dataclasses.fields(Config)}


def field_index() -> dict[str, tuple[str, dataclasses.Field]]:
    """Map "section.name" to (section, Field) for every config field."""
    out = {}
    for sec, cls in _sections().items():
        for f in dataclasses.fields(cls):
            out[f"{sec}.{f.name}"] = (sec, f)
    return out


def _resolve_name(name: str, where: str) -> str:
    """Turn ``lr`` or ``train.lr`` into ``train.lr``; unknown or ambiguous names raise."""
    index = field_index()
    if name in index:
        return name
    matches = [k for k in index if k.split(".", 1)[1] == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ConfigError(f"{where}: field {name!r} is ambiguous; use one of {', '.join(matches)}")
    close = difflib.get_close_matches(name, list(index) + [k.split(".", 1)[1] for k in index], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(f"{where}: unknown config field {name!r}{hint} (see careerpath train --help)")


def _check_type(value, tp, where: str):
    origin = typing.get_origin(tp)
    if origin is list or tp is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp in (int, float) and isinstance(value, str):
        try:  # YAML reads "3e-4" (no dot) as a string
            return tp(value)
        except ValueError:
            raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}") from None
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is str and value is None:
        return ""
    if tp is str and isinstance(value, bool):  # YAML 1.1 reads no/off/false (yes/on/true) as booleans:
        return "yes" if value else "no"  # "no" is a value of mixed_precision and compile
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


_HINTS = {sec: typing.get_type_hints(cls) for sec, cls in _sections().items()}


def set_field(cfg: Config, name: str, value, where: str) -> None:
    """Set ``name`` (bare or dotted) on ``cfg`` after checking its type; ``where`` goes in errors."""
    key = _resolve_name(name, where)
    sec, f = field_index()[key]
    checked = _check_type(value, _HINTS[sec][f.name], f"{where}: {key}")
    setattr(getattr(cfg, sec), f.name, checked)


def _apply_yaml(cfg: Config, path: Path) -> None:
    try:
        data = read_yaml(path)
    except OSError as err:  # a model config error is a ConfigError, whatever the cause
        raise ConfigError(f"{path}: cannot read config: {err}") from err
    for sec, values in data.items():
        if sec not in _sections():
            raise ConfigError(f"{path}: unknown section {sec!r}; expected one of {', '.join(_sections())}")
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: section {sec!r} must be a mapping")
        for name, value in values.items():
            set_field(cfg, f"{sec}.{name}", value, str(path))


def validate(cfg: Config) -> Config:
    """Reject combinations that would fail late (after minutes of training) or silently."""
    m, t = cfg.model, cfg.train
    if m.kind not in MODEL_KINDS:
        raise ConfigError(f"model.kind: {m.kind!r} is not one of {', '.join(MODEL_KINDS)}")
    if m.kind != "tiny_t5" and not m.model_name:
        raise ConfigError(f"model.model_name: required for model.kind={m.kind}")
    if t.schedule not in ("linear", "cosine", "constant"):
        raise ConfigError(f"train.schedule: {t.schedule!r} is not linear, cosine or constant")
    if t.compile not in COMPILE_MODES:
        raise ConfigError(f"train.compile: {t.compile!r} is not one of {', '.join(COMPILE_MODES)}")
    if t.mixed_precision not in ("auto", "no", "bf16", "fp16"):
        raise ConfigError(f"train.mixed_precision: {t.mixed_precision!r} is not auto, no, bf16 or fp16")
    if t.course_prior not in ("auto", "always", "never"):
        raise ConfigError(
            f"train.course_prior: {t.course_prior!r} is not auto, always or never (on/off read as YAML booleans)"
        )
    if t.course_cross not in ("auto", "never"):
        raise ConfigError(f"train.course_cross: {t.course_cross!r} is not auto or never")
    if t.soft_targets not in ("auto", "always", "never"):
        raise ConfigError(
            f"train.soft_targets: {t.soft_targets!r} is not auto, always or never (on/off read as YAML booleans)"
        )
    if t.mixed_precision == "fp16" and m.kind != "causal":
        raise ConfigError("train.mixed_precision: fp16 overflows in T5; use bf16 or no")
    for name in ("batch_size", "eval_batch_size", "grad_accum", "epochs"):
        if getattr(t, name) < 1:
            raise ConfigError(f"train.{name}: must be >= 1")
    if cfg.hub.push_to_hub and not cfg.hub.hub_model_id:
        raise ConfigError("hub.hub_model_id: required with --hub.push-to-hub (set --hub.hub-model-id)")
    if cfg.feedback.dislikes_to not in ("reranker", "model", "both"):
        raise ConfigError(f"feedback.dislikes_to: {cfg.feedback.dislikes_to!r}; use reranker, model or both")
    if cfg.feedback.loss_type not in ("margin", "unlikelihood"):
        raise ConfigError(f"feedback.loss_type: {cfg.feedback.loss_type!r}; use margin or unlikelihood")
    if cfg.feedback.feedback_db and not cfg.train.init_from:
        raise ConfigError(
            "feedback.feedback_db: needs train.init_from (--train.init-from DIR, the model whose "
            "recommendations were rated)"
        )
    if cfg.lora.enabled and not cfg.lora.target_modules:
        raise ConfigError("lora.target_modules: list the modules that get adapters")
    return cfg


def _parse_value(text: str | None):
    """A flag value is read as YAML (``3e-4``, ``true``, ``[q, v]``); a bare flag means true."""
    if text is None:
        return True
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _overrides(rest: list[str]) -> list[tuple[str, str | None]]:
    """``(section.field, value)`` pairs from the flags after ``--config``; old spellings warn once each."""
    from careerpath.core.cli_common import deprecated, set_overrides, split_overrides

    pairs = []
    for name, value in split_overrides(rest):
        if name == "set":  # --set section.field=value (warns itself)
            pairs += set_overrides([value or ""], lambda k: _resolve_name(k, "--set"))
            continue
        key = _resolve_name(name.replace("-", "_"), "command line")
        if flag_name(key) != f"--{name}":
            deprecated(f"--{name}", flag_name(key))
        pairs.append((key, value))
    return pairs


def flag_name(key: str) -> str:
    """``train.max_steps`` -> ``--train.max-steps``: how a config field is spelled on the command line."""
    return "--" + key.replace("_", "-")


def help_text() -> str:
    lines = ["config fields (YAML key under its section, or --section.field value on the command line):"]
    for key, (_, f) in field_index().items():
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        lines.append(f"  {flag_name(key):<32} {f.metadata['help']} (default: {default!r})")
    return "\n".join(lines)


def build_parser(prog: str = "careerpath train") -> argparse.ArgumentParser:
    """``--config`` (and ``--json``); every config field is a ``--section.field`` flag listed in the epilog."""
    from careerpath.core.cli_common import ArgumentParser, HelpFormatter, add_json_flag

    parser = ArgumentParser(
        prog=prog,
        description="Fine-tune a careerpath model: a YAML config gives every field, flags override it.",
        epilog=help_text(),
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML config file (default: the bundled configs/tiny_t5.yaml)",
    )
    add_json_flag(parser)
    return parser


def load_config(argv: list[str] | None = None, prog: str = "careerpath train") -> Config:
    """Build a Config from ``--config FILE`` (default: configs/tiny_t5.yaml) and ``--section.field value``."""
    args, rest = build_parser(prog).parse_known_args(argv)
    cfg = Config()
    _apply_yaml(cfg, args.config or bundled_config("tiny_t5.yaml"))
    try:
        pairs = _overrides(rest)
    except ConfigError:
        raise
    except ValueError as err:  # a malformed flag, from the splitter shared with the other commands
        raise ConfigError(str(err)) from None
    for name, value in pairs:
        set_field(cfg, name, _parse_value(value), "command line")
    return validate(cfg)


def save_config(cfg: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
