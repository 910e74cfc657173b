"""Export a trained model as a standalone folder: LoRA merged into its base, safetensors only.

A merged model needs neither peft nor the base at serving time and loads with plain
``AutoModelFor*.from_pretrained``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

from careerpath.core.atomic import atomic_dir
from careerpath.model.modeling import load_for_inference

log = logging.getLogger(__name__)
# what travels with the weights: the card and records, how inputs are made (context.json) and the
# catalog the recommender ranks
CARRY = (
    "README.md",
    "metrics.json",
    "config.yaml",
    "training_curve.png",
    "context.json",
    "course_prior.json",
    "job_prior.json",
    "course_cross.safetensors",
    "catalog",
)


def export_model(model_dir: str | Path, out_dir: str | Path, merge: bool = True) -> Path:
    """Save ``model_dir`` (adapter or full model) as a standalone model in ``out_dir``, atomically."""
    from peft import PeftModel

    model, tokenizer, kind = load_for_inference(model_dir)
    if isinstance(model, PeftModel):
        if not merge:
            raise ValueError(f"{model_dir} holds a LoRA adapter; pass --merge to fold it into its base")
        model = model.merge_and_unload()
    out_dir = Path(out_dir).resolve()
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        for name in CARRY:
            src = Path(model_dir) / name
            if src.is_dir():
                shutil.copytree(src, tmp / name)
            elif src.exists():
                shutil.copy2(src, tmp / name)
    log.info("exported %s model to %s", kind, out_dir)
    return out_dir


def build_parser() -> argparse.ArgumentParser:
    from careerpath.core.cli_common import ArgumentParser, HelpFormatter, add_json_flag

    parser = ArgumentParser(
        prog="careerpath export", description=__doc__.splitlines()[0], formatter_class=HelpFormatter
    )
    parser.add_argument("--model", required=True, help="training output folder (model or LoRA adapter)")
    parser.add_argument("--out", required=True, help="folder for the standalone model (replaced atomically)")
    parser.add_argument("--merge", action="store_true", help="merge a LoRA adapter into its base weights")
    add_json_flag(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``careerpath export --model DIR --out DIR [--merge] [--json]``; 0 on success, 2 on bad input."""
    import json
    import sys

    from careerpath.core.cli_common import print_json, require_path

    args = build_parser().parse_args(argv)
    try:
        require_path(args.model, "--model", "dir", hint="give a training output folder")
        out = export_model(args.model, args.out, merge=args.merge)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        files = sorted(p.name for p in out.iterdir())
        cfg = out / "config.json"
        kind = json.loads(cfg.read_text()).get("model_type") if cfg.is_file() else None
        print_json({"out": str(out), "merged": args.merge, "model_type": kind, "files": files})
        return 0
    print(f"standalone model written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
