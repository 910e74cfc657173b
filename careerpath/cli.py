"""The ``careerpath`` command. Sub-commands import their module lazily so ``--help`` stays fast."""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def _data_build(args: argparse.Namespace) -> int:
    from data_prep.build import build_dataset, load_data_config

    overrides = {"catalog": args.catalog, "users": args.users, "seed": args.seed}
    cfg = load_data_config(args.config, overrides)
    stats = build_dataset(cfg, args.out, progress=not args.quiet)
    ex, o = stats["examples"], stats["oracle_acc"]
    print(
        f"wrote {args.out}: {stats['users']} users, examples train/validation/test = "
        f"{ex['train']}/{ex['validation']}/{ex['test']} in {stats['seconds']} s\n"
        f"catalog: {stats['catalog']['skills']} skills, {stats['catalog']['courses']} courses, "
        f"{stats['catalog']['jobs']} jobs in {stats['catalog']['families']} families\n"
        f"oracle ceiling on test (from the text): next course {o['next_course']}, next job {o['next_job']}, "
        f"next job on moves {o['next_job_moves']}"
    )
    return 0


def _data_validate(args: argparse.Namespace) -> int:
    from data_prep.catalog import load_catalog
    from data_prep.progression import Progression

    catalog = load_catalog(args.catalog)
    prog = Progression(catalog)
    report = {"catalog": catalog.summary(), "progression": prog.summary(), "merges": [m.as_dict() for m in catalog.merges]}
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="careerpath", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="build and check datasets").add_subparsers(dest="data_command", required=True)
    build = data.add_parser("build", help="catalog -> synthetic trajectories -> text DatasetDict on disk")
    build.add_argument("--config", default=None, help="data config YAML (default: configs/data/default.yaml values)")
    build.add_argument("--out", default="outputs/data", help="output folder (replaced atomically)")
    build.add_argument("--catalog", default=None, help="catalog folder (CSV/JSON); default: the bundled catalog")
    build.add_argument("--users", type=int, default=None, help="number of synthetic users")
    build.add_argument("--seed", type=int, default=None, help="random seed")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.set_defaults(func=_data_build)

    validate = data.add_parser("validate", help="check a catalog folder and report merges and unreachable jobs")
    validate.add_argument("--catalog", default=None, help="catalog folder; default: the bundled catalog")
    validate.add_argument("--json", action="store_true")
    validate.set_defaults(func=_data_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
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
