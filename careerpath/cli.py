"""The ``careerpath`` command. Sub-commands import their module lazily so ``--help`` stays fast.

Conventions (docs/cli.md): dashed flags; ``--section.key value`` overrides a YAML config; ``--json`` prints
one JSON document; ``-v``/``-q`` set the logging; a bad input is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from careerpath.cli_common import (
    ArgumentParser,
    HelpFormatter,
    add_json_flag,
    deprecated,
    print_json,
    require_model,
    require_path,
    setup_logging,
    show_progress,
)

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
log = logging.getLogger(__name__)

DESCRIPTION = """\
careerpath gives a person a personalised learning and career pathway: the next course to take, the
skills it adds, when a job move becomes realistic and the whole sequence of steps to a target job.
It builds career-trajectory datasets from a skills/courses/jobs catalog (bundled, your own CSV/JSON,
O*NET or ESCO), fine-tunes a small T5 or GPT on them, evaluates the model against baselines and the
best accuracy the data allows, and serves a chat demo whose ratings feed back into training.

Start with `careerpath quickstart` (data, model, report and an example pathway in a few minutes)."""

# (title, commands) in the order a project uses them; every command is in exactly one stage
STAGES: list[tuple[str, list[str]]] = [
    ("start here", ["quickstart"]),
    (
        "1. data: catalogs and datasets",
        [
            "data import-onet",
            "data import-esco",
            "data validate",
            "data tag",
            "data apply-tags",
            "data cluster",
            "data build",
            "data merge",
            "data export",
        ],
    ),
    ("2. train", ["train"]),
    ("3. evaluate", ["baselines", "evaluate"]),
    ("4. use and share", ["recommend", "serve", "export", "push", "publish-space"]),
    ("5. feedback loop", ["feedback", "simulate-feedback"]),
]

EPILOG_TAIL = """\
Global options go anywhere: -v/-vv more logging (-v also shows tracebacks), -q/-qq less (-q also
hides progress bars). `careerpath COMMAND --help` lists a command's flags with their defaults.
Exit codes: 0 success, 2 bad input or usage (one line on stderr), 1 unexpected failure, 130 interrupted.
Docs: docs/cli.md."""


def _data_build(args: argparse.Namespace) -> int:
    from data_prep.build import build_dataset, load_data_config

    for path in args.source or []:  # every input checked before anything is written
        require_path(path, "--source", hint="give an O*NET or ESCO release (folder or zip)")
    if args.mobility:
        require_path(
            args.mobility, "--mobility", "dir", hint="give the observed-mobility folder (docs/mobility.md)"
        )
    if args.config is not None:
        require_path(
            args.config, "--config", "file", hint="give a data config YAML, e.g. configs/data/default.yaml"
        )
    if args.catalog is not None and not args.source:
        require_path(args.catalog, "--catalog", "dir", hint="give a catalog folder (CSV/JSON)")
    _check_data_keys(args.overrides)
    overrides = {"catalog": args.catalog, "users": args.users, "seed": args.seed, "workers": args.workers}
    overrides.update(args.overrides)
    config = args.config
    if config is None:  # the documented default: the bundled configs/data/default.yaml
        from careerpath.config import bundled_config

        config = bundled_config("data/default.yaml")
    cfg = load_data_config(config, overrides)
    if args.source:  # a taxonomy release as published: import it into the config's catalog folder first
        import importlib

        kind = args.source_kind or ("esco" if any("esco" in str(p).lower() for p in args.source) else "onet")
        if not cfg.catalog:
            raise ValueError(
                "--source needs a catalog folder to import into: set `catalog:` in the config or --catalog"
            )
        extra = []
        if args.mobility:
            if kind != "onet":
                raise ValueError(
                    "--mobility works with an O*NET release (the crosswalk maps O*NET-SOC codes)"
                )
            extra = ["--mobility", args.mobility]
        module = importlib.import_module(f"data_prep.{kind}")
        code = module.main([*args.source, "--out", str(cfg.catalog), *extra])
        if code:
            return code
    shard = _parse_shard(args.shard) if args.shard else None
    if shard and (args.save_to_disk or args.push_to_hub):
        raise ValueError(
            "--shard writes one part of a dataset: save or push the merged one (`careerpath data merge`)"
        )
    if args.push_to_hub:  # checked before the build, not after minutes of work
        from careerpath.hub import HUB_ID

        if not HUB_ID.match(args.push_to_hub):
            raise ValueError(f"--push-to-hub {args.push_to_hub!r}: expected 'user-or-org/dataset-name'")
    if args.save_to_disk:
        from careerpath.splits import check_save_target

        check_save_target(args.save_to_disk)
    stats = build_dataset(
        cfg, args.out, progress=not (args.quiet or args.json) and show_progress(), shard=shard
    )
    if shard:
        ex = stats["examples"]
        if args.json:
            print_json({"out": str(args.out), "shard": list(shard), **stats})
        else:
            print(
                f"wrote shard {shard[0]}/{shard[1]} to {args.out}: {stats['users']} users, examples "
                f"train/validation/test = {ex['train']}/{ex['validation']}/{ex['test']} in {stats['seconds']} s; "
                "join the shards with `careerpath data merge`"
            )
        return 0
    if args.save_to_disk:
        from careerpath.splits import save_to_disk

        saved = save_to_disk(args.out, args.save_to_disk)
        stats["saved_to_disk"] = str(saved)
        if not args.json:
            print(f"saved the DatasetDict (Arrow) to {saved}")
    if args.push_to_hub:
        from careerpath.hub import push_dataset

        try:
            pushed = push_dataset(args.out, args.push_to_hub)
            stats["pushed_to"] = str(pushed)
            if not args.json:
                print(f"pushed the dataset to the Hub: {pushed}")
        except Exception as e:  # network or auth problems from huggingface_hub; the build is kept
            print(
                f"error: the dataset is built in {args.out} but the upload failed ({type(e).__name__}: "
                f"{str(e)[:200]}); log in with `hf auth login` and run `careerpath push --model MODEL "
                f"--repo-id ... --data {args.out} --dataset-id {args.push_to_hub}`",
                file=sys.stderr,
            )
            return 1
    if args.json:
        print_json({"out": str(args.out), **stats})
        return 0
    _print_built(args.out, stats)
    return 0


def _parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N), or a ValueError saying what is expected."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(
            f"--shard: expected K/N (e.g. 0/4 for the first of 4 shards), got {text!r}"
        ) from None
    if not 0 <= k < n:
        raise ValueError(f"--shard: expected K/N with 0 <= K < N, got {text!r}")
    return k, n


def _data_merge(args: argparse.Namespace) -> int:
    from data_prep.build import merge_shards

    for shard in args.shards:
        require_path(
            shard, "shard", "dir", hint="give the --out folders of `careerpath data build --shard K/N`"
        )
    stats = merge_shards(args.shards, args.out, progress=not (args.quiet or args.json) and show_progress())
    if args.json:
        print_json({"out": str(args.out), **stats})
        return 0
    _print_built(args.out, stats)
    return 0


def _print_built(out, stats: dict) -> None:
    ex, o = stats["examples"], stats["oracle_acc"]
    print(
        f"wrote {out}: {stats['users']} users, examples train/validation/test = "
        f"{ex['train']}/{ex['validation']}/{ex['test']} in {stats['seconds']} s\n"
        f"catalog: {stats['catalog']['skills']} skills, {stats['catalog']['courses']} courses, "
        f"{stats['catalog']['jobs']} jobs in {stats['catalog']['families']} families\n"
        f"oracle ceiling on test (from the text): next course {o['next_course']}, next job {o['next_job']}, "
        f"next job on moves {o['next_job_moves']}"
    )


def _check_data_keys(overrides: dict) -> None:
    """A ``--section.key`` flag that names no data-config key fails here, named as the flag."""
    from dataclasses import fields

    from data_prep.build import DataConfig, SynthesisConfig

    top = {f.name for f in fields(DataConfig)}
    for key in overrides:
        section = key.split(".")[0]
        if section not in top and not ("." not in key and key in {f.name for f in fields(SynthesisConfig)}):
            flag = "--" + key.replace("_", "-")
            raise ValueError(
                f"{flag}: not a key of the data config; known sections and keys: {', '.join(sorted(top))}"
            )


def _data_validate(args: argparse.Namespace) -> int:
    from data_prep.catalog import load_catalog
    from data_prep.progression import Progression

    if args.catalog is not None:
        require_path(args.catalog, "--catalog", "dir", hint="give a catalog folder (CSV/JSON)")
    catalog = load_catalog(args.catalog, allow_untagged=True)
    untagged = catalog.untagged
    if untagged["courses"] or untagged["jobs"]:  # valid input for `data tag`, not yet for `data build`
        report = {"catalog": catalog.summary(), "untagged": untagged, "ready_for_build": False}
        report["merges"] = [m.as_dict() for m in catalog.merges]
        if args.json:
            print_json(report)
            return 0
        print(f"catalog read: {json.dumps(catalog.summary())}")
        print(
            f"{len(untagged['courses'])} course(s) and {len(untagged['jobs'])} job(s) have no skills yet; "
            "they must be tagged before `careerpath data build`: `careerpath data tag --catalog "
            f"{args.catalog or 'DIR'} --out review.csv`, review the accept column, then `careerpath data "
            f"apply-tags review.csv --catalog {args.catalog or 'DIR'}`"
        )
        return 0
    prog = Progression(catalog)
    report = {
        "catalog": catalog.summary(),
        "progression": prog.summary(),
        "merges": [m.as_dict() for m in catalog.merges],
        "untagged": untagged,
        "ready_for_build": True,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"catalog OK: {json.dumps(catalog.summary())}")
        for m in catalog.merges:
            print(f"  merged {m.kind} {m.raw!r} -> {m.canonical!r} ({m.how})")
        unreach = prog.unreachable()
        print(f"jobs with no next job: {unreach['no_next_job'] or 'none'}")
        print(f"jobs no other job leads to: {unreach['never_reached'] or 'none'}")
    return 0


def _recommend(args: argparse.Namespace) -> int:
    from careerpath.planner import Budget
    from careerpath.recommend import Constraints, Recommender

    require_model(args.model)
    if args.catalog is not None:
        require_path(args.catalog, "--catalog", "dir", hint="give a catalog folder (CSV/JSON)")
    rec = Recommender.from_pretrained(
        args.model,
        catalog_dir=args.catalog,
        use_embeddings=not args.no_embeddings,
        assume_job_skills=not args.no_assume_skills,
    )
    split = lambda v: [x.strip() for x in (v or "").split(",") if x.strip()]  # noqa: E731
    if args.text:
        profile = rec.resolve(text=args.text, goal=args.goal)
    else:
        profile = rec.resolve(
            {"job": args.job, "skills": split(args.skills), "courses": split(args.courses)}, goal=args.goal
        )
    cons = Constraints(split(args.exclude), split(args.exclude_provider), args.max_hours, args.max_level)
    result = rec.recommend(
        profile,
        top_k=args.top_k,
        constraints=cons,
        diversify=args.diversify,
        demand_weight=args.demand_weight,
    )
    budget = Budget(hours=args.budget_hours, months=args.budget_months)
    path = (
        rec.pathway(profile, max_steps=args.max_steps, constraints=cons, budget=budget, planner=args.planner)
        if profile.goal
        else None
    )
    result["pathway"] = path.as_dict() if path else None
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        from careerpath.render import render_text

        print(render_text(result))
    return 0


def _quickstart(args: argparse.Namespace) -> int:
    from careerpath.quickstart import run_quickstart

    return run_quickstart(out=args.out, users=args.users, epochs=args.epochs, fast=args.fast)


def train_main(argv: list[str]) -> int:
    """``careerpath train`` (and ``python train.py``): config -> model -> fit -> evaluate -> save."""
    from careerpath.config import load_config

    as_json = "--json" in argv
    cfg = load_config(argv)
    # every input the run reads is checked before the output folder is made
    require_path(
        cfg.data.data_dir, "--data.data-dir", "dir", hint="build a dataset with `careerpath data build`"
    )
    if cfg.train.init_from:
        require_path(cfg.train.init_from, "--train.init-from", "dir", hint="give a trained output folder")
    if cfg.train.resume_from_checkpoint not in ("", "latest"):
        require_path(cfg.train.resume_from_checkpoint, "--train.resume-from-checkpoint", "dir")
    if cfg.feedback.feedback_db:
        require_path(cfg.feedback.feedback_db, "--feedback.feedback-db", "file", hint="the demo creates it")
    from careerpath.training import run_training

    if not show_progress():  # -q: no progress bars (transformers' "Writing model shards" either)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    out_dir = run_training(cfg)
    if as_json:
        metrics = Path(out_dir) / "metrics.json"
        print_json(
            {
                "model_dir": str(out_dir),
                "metrics": json.loads(metrics.read_text()) if metrics.is_file() else None,
            }
        )
    else:
        print(f"model written to {out_dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="careerpath",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
        usage="careerpath [-h] [--version] [-v | -q] <command> [<args>]",
    )
    parser.add_argument("--version", action=_Version, help="print the installed version and exit")
    _add_verbosity(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>", help=argparse.SUPPRESS)

    data = sub.add_parser(
        "data",
        prog="careerpath data",
        help="build and check catalogs and datasets",
        formatter_class=HelpFormatter,
    ).add_subparsers(dest="data_command", required=True, metavar="<data command>")
    build = _add(
        data,
        "build",
        "catalog -> synthetic trajectories -> JSONL splits by user + dataset card (load with `datasets`)",
        "data",
        "Any key of the data config is a flag too: --synthesis.users 500, --context.enabled false, "
        "--split '{train: 0.8, validation: 0.1, test: 0.1}' (values are read as YAML).",
    )
    build.add_argument(
        "--config", default=None, help="data config YAML (default: configs/data/default.yaml values)"
    )
    build.add_argument("--out", default="outputs/data", help="output folder (replaced atomically)")
    build.add_argument(
        "--catalog", default=None, help="catalog folder (CSV/JSON); default: the bundled catalog"
    )
    build.add_argument(
        "--source",
        nargs="+",
        default=None,
        help="an O*NET or ESCO release (folder, zip, or ESCO's two zips) to import into the catalog folder first",
    )
    build.add_argument(
        "--source-kind", choices=["onet", "esco"], default=None, help="default: guessed from the path"
    )
    build.add_argument(
        "--mobility",
        default=None,
        help="with an O*NET --source: observed US mobility folder; transitions learned from it (docs/mobility.md)",
    )
    build.add_argument("--users", type=int, default=None, help="number of synthetic users (synthesis.users)")
    build.add_argument("--seed", type=int, default=None, help="random seed")
    build.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: one per CPU core; same bytes)"
    )
    build.add_argument(
        "--shard",
        default=None,
        metavar="K/N",
        help="only the K-th (0-based) of N contiguous ranges of users, as a shard folder for `data merge` "
        "(docs/data_build.md)",
    )
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.add_argument(
        "--save-to-disk",
        default=None,
        metavar="DIR",
        help="also save the splits as a datasets DatasetDict (Arrow)",
    )
    build.add_argument(
        "--push-to-hub",
        default=None,
        metavar="USER/NAME",
        help="also upload the dataset (splits, card, catalog) as a Hub dataset repo; `hf auth login` first",
    )
    add_json_flag(build)
    build.set_defaults(func=_data_build, overrides_allowed=True)

    merge = _add(
        data,
        "merge",
        "join the shard folders of a sharded build into the dataset a single build writes",
        "data",
    )
    merge.add_argument("shards", nargs="+", help="the shard folders (every K of K/N once, any order)")
    merge.add_argument("--out", required=True, help="dataset folder to write (replaced atomically)")
    merge.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json_flag(merge)
    merge.set_defaults(func=_data_merge)

    validate = _add(data, "validate", "check a catalog folder and report merges and unreachable jobs", "data")
    validate.add_argument("--catalog", default=None, help="catalog folder; default: the bundled catalog")
    add_json_flag(validate)
    validate.set_defaults(func=_data_validate)

    quick = _add(
        sub, "quickstart", "build the default dataset, train the tiny model, evaluate, show a pathway"
    )
    quick.add_argument("--out", default="outputs", help="folder for data, model and report")
    quick.add_argument("--users", type=int, default=None, help="override the number of synthetic users")
    quick.add_argument("--epochs", type=int, default=None, help="override training epochs")
    quick.add_argument("--fast", action="store_true", help="a one-minute smoke run (tiny data, one epoch)")
    quick.set_defaults(func=_quickstart)

    for prefix, (module, extra, helptext) in PASSTHROUGH.items():  # listed in --help; run by main()
        p = (data if prefix[0] == "data" else sub).add_parser(prefix[-1], help=helptext, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER, help="the command's own flags (see its --help)")
        p.set_defaults(func=_passthrough(module, extra))

    rec = _add(sub, "recommend", "next courses and jobs and a pathway to a goal, for one profile")
    rec.add_argument("--model", default="outputs/tiny_t5", help="trained model folder (full or LoRA adapter)")
    rec.add_argument("--catalog", default=None, help="catalog folder (default: the one saved with the model)")
    rec.add_argument(
        "--text", default=None, help='free-text profile, e.g. "I am a data analyst, I know SQL ..."'
    )
    rec.add_argument("--job", default=None, help="current job title")
    rec.add_argument("--skills", default=None, help="comma-separated skills")
    rec.add_argument("--courses", default=None, help="comma-separated courses already taken")
    rec.add_argument("--goal", default=None, help="target job title")
    rec.add_argument("--top-k", type=int, default=10, help="how many courses and jobs to list")
    rec.add_argument(
        "--max-steps", type=int, default=None, help="a budget of course steps for the pathway (default: none)"
    )
    rec.add_argument(
        "--budget-hours", type=float, default=None, help="a budget of course hours for the pathway"
    )
    rec.add_argument(
        "--budget-months", type=float, default=None, help="a budget in months (at 20 study hours a month)"
    )
    rec.add_argument(
        "--planner",
        default="model",
        choices=["model", "shortest", "skill-gap"],
        help="model: the model's choices within 1.2x the shortest plan's hours (default); shortest; "
        "skill-gap: the greedy skill-gap rule",
    )
    rec.add_argument("--exclude", default=None, help="comma-separated course ids or titles to leave out")
    rec.add_argument("--exclude-provider", default=None, help="comma-separated providers to leave out")
    rec.add_argument("--max-hours", type=float, default=None, help="longest course allowed, in hours")
    rec.add_argument("--max-level", type=int, default=None, help="highest course level allowed (1-3)")
    rec.add_argument(
        "--no-embeddings", action="store_true", help="resolve titles without sentence embeddings"
    )
    rec.add_argument(
        "--no-assume-skills",
        action="store_true",
        help="with a job but no skills given, do not assume the job's required skills are held",
    )
    rec.add_argument(
        "--demand-weight",
        type=float,
        default=0.0,
        help="favour in-demand jobs and skills (catalogs with demand weights, e.g. O*NET); try 1.0",
    )
    rec.add_argument(
        "--diversify", action="store_true", help="spread top courses over course clusters (data cluster)"
    )
    add_json_flag(rec)
    rec.set_defaults(func=_recommend)
    parser.epilog = _stages_text(parser) + "\n\n" + EPILOG_TAIL
    return parser


def _add(
    sub, name: str, helptext: str, group: str = "", epilog: str | None = None
) -> argparse.ArgumentParser:
    prog = " ".join(["careerpath", *([group] if group else []), name])
    return sub.add_parser(
        name, prog=prog, help=helptext, description=helptext, epilog=epilog, formatter_class=HelpFormatter
    )


def _add_verbosity(parser: argparse.ArgumentParser) -> None:
    # shown in --help; main() takes them out of argv first, so they work after the command name too
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more logging; -v also shows tracebacks, -vv libraries' logs",
    )
    parser.add_argument(
        "-q", "--quiet", action="count", default=0, help="less logging and no progress bars; -qq: errors only"
    )


def _passthrough(module: str, prefix: list[str] | None = None):
    """Sub-commands whose module owns its own argparse (``main(argv) -> int``)."""

    def run(args: argparse.Namespace) -> int:
        return _run_module(module, (prefix or []) + args.rest)

    return run


def _run_module(module: str, argv: list[str]) -> int:
    import importlib

    if module == "careerpath.cli":  # `careerpath train` lives here, beside `python train.py`'s entry
        return train_main(argv)
    return importlib.import_module(module).main(argv)


# Sub-commands whose module owns its own argparse: ``module.main(extra + argv_rest) -> int``; each module
# also has ``build_parser()`` (tests walk it). Dispatched before argparse so their options pass untouched.
PASSTHROUGH: dict[tuple[str, ...], tuple[str, list[str], str]] = {
    ("train",): ("careerpath.cli", [], "fine-tune a model from a YAML config (same as `python train.py`)"),
    ("evaluate",): ("careerpath.evaluation", [], "full-catalog metrics, baselines, ceiling and bias report"),
    ("baselines",): ("careerpath.baselines", [], "train the popularity, stay-rule, Markov and GRU baselines"),
    ("export",): ("careerpath.export", [], "save a standalone model (merge a LoRA adapter into its base)"),
    ("serve",): ("careerpath.demo", [], "open the chat demo (Gradio) on a trained model"),
    ("push",): (
        "careerpath.hub",
        [],
        "upload a model (card with test figures, its base) and its dataset to the Hub",
    ),
    ("publish-space",): ("careerpath.space_publish", [], "upload space/ as a Hugging Face Space"),
    ("feedback",): ("careerpath.feedback", [], "feedback store: stats, export, delete, purge"),
    ("simulate-feedback",): (
        "careerpath.simulate",
        [],
        "simulated users like/dislike, the model retrains; acceptance per round",
    ),
    ("data", "export"): ("careerpath.recbole_export", [], "export splits for other tools (--format recbole)"),
    ("data", "tag"): ("data_prep.tagging", ["tag"], "propose skill tags for courses and jobs (review CSV)"),
    ("data", "apply-tags"): ("data_prep.tagging", ["apply"], "merge accepted tags from a review CSV"),
    ("data", "cluster"): ("data_prep.clustering", [], "cluster courses (kmeans, hierarchical, dbscan)"),
    ("data", "import-onet"): ("data_prep.onet", [], "build a catalog from an O*NET release"),
    ("data", "import-esco"): ("data_prep.esco", [], "build a catalog from an ESCO release"),
}


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (0 ok, 2 bad input, 1 unexpected failure, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbosity, argv = _pop_verbosity(argv)
    setup_logging(verbosity)
    try:
        for prefix, (module, extra, _) in PASSTHROUGH.items():
            if tuple(argv[: len(prefix)]) == prefix:  # these modules own their argparse
                return _run_module(module, extra + argv[len(prefix) :])
        parser = build_parser()
        args, unknown = parser.parse_known_args(argv)
        args.verbosity = verbosity
        args.overrides = {}
        if unknown and getattr(args, "overrides_allowed", False):
            args.overrides = _yaml_overrides(unknown)
        elif unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `careerpath ... | head`: the reader left; nothing to report
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the interpreter's final flush stays quiet
        return 0
    # bad input: CatalogError, ConfigError, FeedbackError, SourceError... are ValueErrors
    except (ValueError, OSError) as e:
        log.debug("traceback", exc_info=True)
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug: still one line, the traceback with -v
        log.debug("traceback", exc_info=True)
        print(
            f"error: unexpected {type(e).__name__}: {_one_line(e)} (run again with -v for the traceback)",
            file=sys.stderr,
        )
        return 1


def _one_line(e: BaseException) -> str:
    if len(getattr(e, "problems", ())) > 1:  # an invalid catalog: one problem per line after the first
        return str(e)
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        return f"{e.filename}: {e.strerror.lower()}"
    return " ".join(str(e).split()) or type(e).__name__


def _pop_verbosity(argv: list[str]) -> tuple[int, list[str]]:
    """``-v``/``-vv``/``--verbose``/``-q``/``-qq`` anywhere before ``--`` (``--quiet`` only before the command,
    since ``data build --quiet`` and ``evaluate --quiet`` mean "no progress bar")."""
    level, out, command_seen = 0, [], False
    for i, a in enumerate(argv):
        if a == "--":
            out += argv[i:]
            break
        if a in ("--verbose",) or (len(a) > 1 and a[0] == "-" and set(a[1:]) == {"v"}):
            level += 1 if a == "--verbose" else len(a) - 1
        elif (a == "--quiet" and not command_seen) or (len(a) > 1 and a[0] == "-" and set(a[1:]) == {"q"}):
            level -= 1 if a == "--quiet" else len(a) - 1
        else:
            command_seen = command_seen or not a.startswith("-")
            out.append(a)
    return level, out


def _yaml_overrides(rest: list[str]) -> dict:
    """``--section.key value`` flags for a data config (``--set KEY=VALUE`` still works, with a warning)."""
    import yaml

    from careerpath.cli_common import set_overrides, split_overrides

    out = {}
    for name, value in split_overrides(rest):
        if name == "set":
            pairs = set_overrides([value or ""])
        else:
            if "_" in name:
                deprecated(f"--{name}", f"--{name.replace('_', '-')}")
            pairs = [(name.replace("-", "_"), value)]
        for key, raw in pairs:
            out[key] = True if raw is None else yaml.safe_load(raw)
    return out


class _Version(argparse.Action):
    """``--version``, looked up only when asked for (importlib.metadata costs ~50 ms of every --help)."""

    def __init__(self, option_strings, dest, help=None):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"careerpath {version()}")
        parser.exit()


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    try:
        return _version("careerpath")
    except PackageNotFoundError:
        return "0+unknown (not installed; pip install -e .)"


def command_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every command down to the leaves (``feedback stats``, ``baselines train``) and the parser that reads
    its flags; imports every command's module (tests and docs use it, ``--help`` does not)."""
    import importlib

    out = {}
    for name, sub, _ in _walk(build_parser()):
        prefix = tuple(name.split())
        if prefix not in PASSTHROUGH:
            out[name] = sub
            continue
        module, extra, _ = PASSTHROUGH[prefix]
        if module == "careerpath.cli":
            from careerpath.config import build_parser as train_parser

            out[name] = train_parser()
            continue
        own = importlib.import_module(module).build_parser()
        nested = {n: p for n, p, _ in _walk(own)}
        if extra:  # e.g. data tag -> tagging's "tag" sub-parser
            out[name] = nested[" ".join(extra)]
        elif nested:
            out.update({f"{name} {n}": p for n, p in nested.items()})
        else:
            out[name] = own
    return out


def commands(parser: argparse.ArgumentParser | None = None) -> dict[str, str]:
    """``{"data build": help, "train": help, ...}``: every command of ``careerpath``, in parser order."""
    return {name: helptext for name, _, helptext in _walk(parser or build_parser())}


def _walk(parser: argparse.ArgumentParser, prefix: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                full = f"{prefix}{name}"
                nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
                if nested:
                    yield from _walk(sub, full + " ")
                else:
                    yield full, sub, helps.get(name, "")


def _stages_text(parser: argparse.ArgumentParser) -> str:
    helps = commands(parser)
    lines = ["commands, by stage:"]
    for title, names in STAGES:
        lines.append(f"  {title}")
        lines += [f"    {name:<19} {helps[name]}" for name in names]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
