"""The ``careerpath`` command. Sub-commands import their module lazily so ``--help`` stays fast."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def _data_build(args: argparse.Namespace) -> int:
    from data_prep.build import build_dataset, load_data_config

    overrides = {"catalog": args.catalog, "users": args.users, "seed": args.seed, "workers": args.workers}
    config = args.config
    if config is None:  # the documented default: configs/data/default.yaml, where a clone has it
        default = Path(__file__).resolve().parents[1] / "configs" / "data" / "default.yaml"
        config = default if default.is_file() else None
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
    stats = build_dataset(cfg, args.out, progress=not args.quiet, shard=shard)
    ex = stats["examples"]
    if shard:
        print(
            f"wrote shard {shard[0]}/{shard[1]} to {args.out}: {stats['users']} users, examples "
            f"train/validation/test = {ex['train']}/{ex['validation']}/{ex['test']} in {stats['seconds']} s; "
            "join the shards with `careerpath data merge`"
        )
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

    stats = merge_shards(args.shards, args.out, progress=not args.quiet)
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


def _data_validate(args: argparse.Namespace) -> int:
    from data_prep.catalog import load_catalog
    from data_prep.progression import Progression

    catalog = load_catalog(args.catalog)
    prog = Progression(catalog)
    report = {
        "catalog": catalog.summary(),
        "progression": prog.summary(),
        "merges": [m.as_dict() for m in catalog.merges],
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


def _passthrough(module: str, prefix: list[str] | None = None):
    """Sub-commands whose module owns its own argparse (``main(argv) -> int``)."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        return importlib.import_module(module).main((prefix or []) + args.rest)

    return run


def _recommend(args: argparse.Namespace) -> int:
    from careerpath.planner import Budget
    from careerpath.recommend import Constraints, Recommender

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
    import logging

    from careerpath.quickstart import run_quickstart

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    return run_quickstart(out=args.out, users=args.users, epochs=args.epochs, fast=args.fast)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="careerpath", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="build and check datasets").add_subparsers(
        dest="data_command", required=True
    )
    build = data.add_parser("build", help="catalog -> synthetic trajectories -> text DatasetDict on disk")
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
    build.add_argument("--users", type=int, default=None, help="number of synthetic users")
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
    build.set_defaults(func=_data_build)

    merge = data.add_parser(
        "merge", help="join the shard folders of a sharded build into the dataset a single build writes"
    )
    merge.add_argument("shards", nargs="+", help="the shard folders (every K of K/N once, any order)")
    merge.add_argument("--out", required=True, help="dataset folder to write (replaced atomically)")
    merge.add_argument("--quiet", action="store_true", help="no progress bar")
    merge.set_defaults(func=_data_merge)

    validate = data.add_parser(
        "validate", help="check a catalog folder and report merges and unreachable jobs"
    )
    validate.add_argument("--catalog", default=None, help="catalog folder; default: the bundled catalog")
    validate.add_argument("--json", action="store_true")
    validate.set_defaults(func=_data_validate)

    quick = sub.add_parser(
        "quickstart", help="build the default dataset, train the tiny model, evaluate, show a pathway"
    )
    quick.add_argument("--out", default="outputs", help="folder for data, model and report")
    quick.add_argument("--users", type=int, default=None, help="override the number of synthetic users")
    quick.add_argument("--epochs", type=int, default=None, help="override training epochs")
    quick.add_argument("--fast", action="store_true", help="a one-minute smoke run (tiny data, one epoch)")
    quick.set_defaults(func=_quickstart)

    for prefix, (module, extra, helptext) in PASSTHROUGH.items():  # listed in --help; run by main()
        p = (data if prefix[0] == "data" else sub).add_parser(prefix[-1], help=helptext, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=_passthrough(module, extra))

    rec = sub.add_parser("recommend", help="next courses and jobs and a pathway to a goal, for one profile")
    rec.add_argument("--model", default="outputs/tiny_t5", help="trained model folder (full or LoRA adapter)")
    rec.add_argument("--catalog", default=None, help="catalog folder (default: the one saved with the model)")
    rec.add_argument(
        "--text", default=None, help='free-text profile, e.g. "I am a data analyst, I know SQL ..."'
    )
    rec.add_argument("--job", default=None, help="current job title")
    rec.add_argument("--skills", default=None, help="comma-separated skills")
    rec.add_argument("--courses", default=None, help="comma-separated courses already taken")
    rec.add_argument("--goal", default=None, help="target job title")
    rec.add_argument("--top-k", type=int, default=10)
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
    rec.add_argument("--json", action="store_true", help="machine-readable output")
    rec.set_defaults(func=_recommend)
    return parser


# Sub-commands whose module owns its own argparse: ``module.main(extra + argv_rest) -> int``.
# Dispatched before argparse so that their options pass through untouched.
PASSTHROUGH: dict[tuple[str, ...], tuple[str, list[str], str]] = {
    ("evaluate",): ("careerpath.evaluation", [], "full-catalog metrics, baselines, ceiling and bias report"),
    ("baselines",): ("careerpath.baselines", [], "train the popularity, stay-rule, Markov and GRU baselines"),
    ("export",): ("careerpath.export", [], "merge a LoRA adapter into its base and save a standalone model"),
    ("serve",): ("careerpath.demo", [], "open the chat demo (Gradio) on a trained model"),
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
    argv = list(sys.argv[1:] if argv is None else argv)
    for prefix, (module, extra, _) in PASSTHROUGH.items():
        if tuple(argv[: len(prefix)]) == prefix:  # these modules own their argparse
            import importlib

            return importlib.import_module(module).main(extra + argv[len(prefix) :])
    parser = build_parser()
    args = parser.parse_args(argv)
    from data_prep.catalog import CatalogError

    try:
        return args.func(args)
    except CatalogError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
