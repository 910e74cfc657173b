"""The Hugging Face Hub: resolve a model id to a local folder, push a model (and its base) and a dataset.

``careerpath push --model DIR --repo-id user/name [--eval REPORT] [--data DATA --dataset-id user/data]``

The token comes from ``HF_TOKEN`` or ``hf auth login`` through huggingface_hub itself; this module
never reads, logs or writes it.

An adapter is only usable by others when ``adapter_config.json`` names a base they can load. A base
that exists nowhere on the Hub (the tiny T5 built from a config, a GGUF package de-quantised on
this machine, a local folder) is pushed as ``<repo-id>-base`` and the pushed adapter names that
repo, so ``AutoPeftModelFor*.from_pretrained("<repo-id>")`` works; a Hub base keeps its id.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path

from huggingface_hub import HfApi

from careerpath.core.cli_common import HUB_ID, is_hub_id, upload_failed  # noqa: F401 (is_hub_id: used by demo)

log = logging.getLogger(__name__)
# resumable state and tracker logs are large and only useful on the training machine; a scratch
# base travels as its own repo (see module doc)
IGNORE = ["checkpoints/*", "checkpoints/**", "logs/*", "logs/**"]


def resolve_model_dir(spec: str | Path) -> Path:
    """A local model folder as is, or a Hub model id downloaded (or found in the local Hub cache)."""
    path = Path(spec)
    if path.is_dir():
        return path
    if not is_hub_id(spec):
        raise FileNotFoundError(
            f"{spec}: no such model folder, and not a Hub id (user/name); train one with "
            "`careerpath quickstart` or pass a folder from `python train.py`"
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    try:
        return Path(snapshot_download(str(spec)))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        raise FileNotFoundError(
            f"model {spec!r}: not in the local Hub cache, and it could not be downloaded from the Hub "
            "(offline, or HF_HUB_OFFLINE=1); connect once (or `hf download` it) and retry, or pass a local folder"
        ) from None
    except (RepositoryNotFoundError, GatedRepoError):
        raise FileNotFoundError(
            f"model {spec!r}: could not be downloaded from the Hub: no such model repo, or it is private "
            "(log in with `hf auth login`)"
        ) from None
    except Exception as e:  # network errors from huggingface_hub / requests
        raise FileNotFoundError(
            f"model {spec!r}: not a local folder and could not be downloaded from the Hub "
            f"({type(e).__name__}); check the network, or pass a local model folder"
        ) from None


# ---------------------------------------------------------------- push a model


def _base_to_push(model_dir: Path, base_name: str) -> Path | None:
    """The local folder of an adapter's base when the Hub does not have it; None for a Hub id."""
    from careerpath.model.modeling import (
        _gguf_cache_dir,
        _resolve_adapter_base,
        load_gguf_causal,
        resolve_model_name,
    )

    resolved = Path(_resolve_adapter_base(model_dir, base_name)) if base_name else None
    if resolved is not None and resolved.parent == model_dir and resolved.is_dir():
        return resolved  # the scratch base saved beside the adapter
    if base_name.startswith("pkg:") or base_name.endswith(".gguf"):
        folder, gguf = resolve_model_name(base_name)
        cache = _gguf_cache_dir(folder, gguf)
        if not (cache / "model.safetensors").is_file():
            load_gguf_causal(folder, gguf)  # writes the de-quantised copy the adapter was trained on
        return cache
    if Path(base_name).is_dir():
        return Path(base_name)
    return None


def _base_card(repo_id: str, base_name: str) -> str:
    from huggingface_hub import ModelCard, ModelCardData

    from careerpath.model.modelcard import HUB_BASES
    from careerpath.model.modeling import ADAPTER_BASE_DIR

    upstream = HUB_BASES.get(base_name)
    data = ModelCardData(
        license="apache-2.0",
        library_name="transformers",
        base_model=upstream,
        tags=["careerpath"],
        inference=False,
    )
    if upstream:
        origin = f"the de-quantised weights of `{base_name}` (a GGUF copy of `{upstream}`)"
    elif Path(base_name).name == ADAPTER_BASE_DIR:
        origin = "a model built from a config, with a tokenizer trained on the careerpath corpus"
    else:
        origin = f"the local model folder `{Path(base_name).name}` it was trained from"
    return str(
        ModelCard(
            f"---\n{data.to_yaml()}\n---\n\n# Base of [{repo_id}](https://huggingface.co/{repo_id})\n\n"
            f"The exact base weights the LoRA adapter in `{repo_id}` was trained on: {origin}. On its "
            "own it makes no useful predictions; load the adapter (`AutoPeftModel*.from_pretrained"
            f'("{repo_id}")`) or `careerpath.serving.recommend.Recommender.from_pretrained("{repo_id}")`.\n'
        )
    )


def _stage(
    folder: Path, out: Path, repo_id: str, evaluation: dict | None, dataset_id: str | None
) -> tuple[Path | None, str]:
    """Copy ``folder`` to ``out`` for upload: the card re-rendered for the Hub and the adapter's
    base re-pointed at ``<repo_id>-base`` when the Hub lacks it. Returns (base folder to push, base name)."""
    from careerpath.core.config import load_config
    from careerpath.model import modelcard

    base_dir, base_name = None, ""
    adapter = folder / "adapter_config.json"
    skip = []
    if adapter.is_file():
        info = json.loads(adapter.read_text(encoding="utf-8"))
        base_name = info.get("base_model_name_or_path", "")
        base_dir = _base_to_push(folder, base_name)
        if base_dir is not None and base_dir.parent == folder:
            skip.append(base_dir.name)  # it travels as <repo_id>-base instead
    shutil.copytree(
        folder,
        out,
        ignore=lambda d, names: [
            n for n in names if Path(d) == folder and n in {"checkpoints", "logs", *skip}
        ],
    )
    if base_dir is not None:
        info["base_model_name_or_path"] = f"{repo_id}-base"
        (out / "adapter_config.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    if (folder / "config.yaml").is_file():
        cfg = load_config(["--config", str(folder / "config.yaml")])
        metrics_path = folder / "metrics.json"
        metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
        base_repo = f"{repo_id}-base" if base_dir is not None else None
        modelcard.write_model_card(
            out,
            cfg,
            metrics,
            evaluation=evaluation,
            repo_id=repo_id,
            dataset_id=dataset_id,
            base_repo=base_repo,
        )
    return base_dir, base_name


def load_evaluation(eval_dir: str | Path, model_dir: str | Path) -> dict:
    """``careerpath evaluate``'s metrics.json from ``eval_dir``, checked to be about ``model_dir``."""
    path = Path(eval_dir) / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: missing; run `careerpath evaluate --model {model_dir} --data DATA --out {eval_dir}` first"
        )
    m = json.loads(path.read_text(encoding="utf-8"))
    if "model" not in m or "split" not in m:
        raise ValueError(f"{path}: not a `careerpath evaluate` report (no 'model' or 'split')")
    if Path(m.get("model_dir", "")).resolve() != Path(model_dir).resolve():
        log.warning(
            "%s evaluates %s, not %s: check it is the same model", path, m.get("model_dir"), model_dir
        )
    return m


def push_to_hub(
    folder: str | Path,
    repo_id: str,
    private: bool = False,
    api: HfApi | None = None,
    evaluation: dict | None = None,
    dataset_id: str | None = None,
) -> str:
    """Create ``repo_id`` if needed and upload ``folder`` (with ``<repo_id>-base`` when its adapter's
    base is not on the Hub); returns the commit URL."""
    folder = Path(folder)
    if not HUB_ID.match(repo_id):
        raise ValueError(f"--repo-id {repo_id!r}: expected 'user-or-org/model-name'")
    if not (folder / "README.md").exists():
        raise FileNotFoundError(f"{folder}: no README.md model card; is this a training output folder?")
    if dataset_id is not None and not HUB_ID.match(dataset_id):
        raise ValueError(f"--dataset-id {dataset_id!r}: expected 'user-or-org/dataset-name'")
    api = api or HfApi()
    with tempfile.TemporaryDirectory(prefix="careerpath-push-") as tmp:
        staged = Path(tmp) / "model"
        base_dir, base_name = _stage(folder, staged, repo_id, evaluation, dataset_id)
        if base_dir is not None:
            base = Path(tmp) / "base"
            shutil.copytree(base_dir, base, ignore=shutil.ignore_patterns("*.bin", "*.gguf"))
            (base / "README.md").write_text(_base_card(repo_id, base_name), encoding="utf-8")
            api.create_repo(repo_id=f"{repo_id}-base", repo_type="model", private=private, exist_ok=True)
            api.upload_folder(
                folder_path=str(base),
                repo_id=f"{repo_id}-base",
                repo_type="model",
                commit_message="Upload the base of a careerpath adapter",
            )
            log.info("pushed the adapter's base to https://huggingface.co/%s-base", repo_id)
        api.create_repo(repo_id=repo_id, repo_type="model", private=private, exist_ok=True)
        info = api.upload_folder(
            folder_path=str(staged),
            repo_id=repo_id,
            repo_type="model",
            commit_message="Upload careerpath model",
            ignore_patterns=IGNORE,
        )
    log.info("pushed %s to https://huggingface.co/%s", folder, repo_id)
    return str(getattr(info, "commit_url", info))


# ---------------------------------------------------------------- push a dataset


def push_dataset(data_dir: str | Path, repo_id: str, private: bool = False, api: HfApi | None = None) -> str:
    """Upload a built dataset folder as a Hub dataset repo: the JSONL splits, its card (whose
    ``configs:`` make ``load_dataset("<repo_id>")`` give the DatasetDict), stats and the catalog."""
    from huggingface_hub import DatasetCard

    data_dir = Path(data_dir)
    if not HUB_ID.match(repo_id):
        raise ValueError(f"--dataset-id {repo_id!r}: expected 'user-or-org/dataset-name'")
    card_path = data_dir / "README.md"
    if not card_path.is_file() or not (data_dir / "train.jsonl").is_file():
        raise FileNotFoundError(
            f"{data_dir}: not a built dataset (no README.md card or train.jsonl); run `careerpath data build`"
        )
    card = DatasetCard.load(card_path)  # parses the card's metadata: a broken card fails here, not on the Hub
    if not card.data.to_dict().get("configs"):
        raise ValueError(f"{card_path}: the card has no `configs:`; rebuild with `careerpath data build`")
    api = api or HfApi()
    api.create_repo(repo_id=repo_id, repo_type="dataset", private=private, exist_ok=True)
    info = api.upload_folder(
        folder_path=str(data_dir),
        repo_id=repo_id,
        repo_type="dataset",
        commit_message="Upload careerpath dataset",
        ignore_patterns=[".*", "**/.*"],
    )
    log.info("pushed %s to https://huggingface.co/datasets/%s", data_dir, repo_id)
    return str(getattr(info, "commit_url", info))


# ---------------------------------------------------------------- the command


def build_parser() -> argparse.ArgumentParser:
    from careerpath.core.cli_common import ArgumentParser, HelpFormatter, add_json_flag

    p = ArgumentParser(
        prog="careerpath push",
        description="upload a trained model (and optionally its dataset) to the Hub",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--model", required=True, help="training output folder")
    p.add_argument("--repo-id", required=True, help="user-or-org/model-name")
    p.add_argument(
        "--eval",
        default=None,
        metavar="REPORT",
        help="`careerpath evaluate --out` folder of this model: its figures go in the card's model-index",
    )
    p.add_argument(
        "--data", default=None, help="the dataset folder the model was trained on, pushed as --dataset-id"
    )
    p.add_argument(
        "--dataset-id",
        default=None,
        help="user-or-org/dataset-name the card links (pushed when --data is given)",
    )
    p.add_argument("--private", action="store_true", help="create the repos as private")
    add_json_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """``careerpath push --model DIR --repo-id user/name [...]``; 0 ok, 2 bad input, 1 upload failed."""
    from careerpath.core.cli_common import print_json, require_path

    args = build_parser().parse_args(argv)
    try:  # inputs first: nothing is uploaded before they are all there
        require_path(args.model, "--model", "dir", hint="give a training output folder")
        if args.data:
            if not args.dataset_id:
                raise ValueError("--data needs --dataset-id (the dataset repo to push it to)")
            require_path(args.data, "--data", "dir", hint="give the dataset folder the model was trained on")
        if args.eval:
            require_path(args.eval, "--eval", "dir", hint="run `careerpath evaluate --out REPORT` first")
        evaluation = load_evaluation(args.eval, args.model) if args.eval else None
        pushed = {}
        if args.data:
            pushed["dataset"] = push_dataset(args.data, args.dataset_id, args.private)
        pushed["model"] = push_to_hub(
            args.model, args.repo_id, args.private, evaluation=evaluation, dataset_id=args.dataset_id
        )
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # network or auth problems from huggingface_hub
        return upload_failed(e)
    if args.json:
        print_json(pushed)
    else:
        for what, url in pushed.items():
            print(f"pushed {what}: {url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
