"""``careerpath data build|merge|validate``: their flags and what they run (the other ``data`` commands'
modules own their argparse; careerpath/app/cli.py lists them). Modules are imported inside the handlers so
``careerpath --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys

from careerpath.core.cli_common import (
    HelpFormatter,
    add_command,
    add_json_flag,
    print_json,
    require_path,
    show_progress,
)


def add_data_commands(sub) -> argparse._SubParsersAction:
    """Add ``careerpath data`` with build, merge and validate to ``sub``; returns its sub-parsers."""
    data = sub.add_parser(
        "data",
        prog="careerpath data",
        help="build and check catalogs and datasets",
        formatter_class=HelpFormatter,
    ).add_subparsers(dest="data_command", required=True, metavar="<data command>")
    _add_build_command(data)
    merge = add_command(
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

    validate = add_command(
        data, "validate", "check a catalog folder and report merges and unreachable jobs", "data"
    )
    validate.add_argument("--catalog", default=None, help="catalog folder; default: the bundled catalog")
    add_json_flag(validate)
    validate.set_defaults(func=_data_validate)
    return data


def _add_build_command(data) -> None:
    build = add_command(
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


def _data_build(args: argparse.Namespace) -> int:
    from careerpath.data.build import build_dataset, load_data_config

    _check_build_inputs(args)
    overrides = {"catalog": args.catalog, "users": args.users, "seed": args.seed, "workers": args.workers}
    overrides.update(args.overrides)
    config = args.config
    if config is None:  # the documented default: the bundled configs/data/default.yaml
        from careerpath.core.config import bundled_config

        config = bundled_config("data/default.yaml")
    cfg = load_data_config(config, overrides)
    if args.source:  # a taxonomy release as published: import it into the config's catalog folder first
        code = _import_source(args, cfg)
        if code:
            return code
    shard = _parse_shard(args.shard) if args.shard else None
    _check_build_targets(args, shard)
    stats = build_dataset(
        cfg, args.out, progress=not (args.quiet or args.json) and show_progress(), shard=shard
    )
    if shard:
        _print_shard(args, shard, stats)
        return 0
    code = _save_and_push(args, stats)
    if code:
        return code
    if args.json:
        print_json({"out": str(args.out), **stats})
        return 0
    _print_built(args.out, stats)
    return 0


def _check_build_inputs(args: argparse.Namespace) -> None:
    """Every input of ``data build`` checked before anything is written."""
    for path in args.source or []:
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


def _import_source(args: argparse.Namespace, cfg) -> int:
    """Import ``--source`` (O*NET or ESCO) into the config's catalog folder; the importer's exit code."""
    import importlib

    kind = args.source_kind or ("esco" if any("esco" in str(p).lower() for p in args.source) else "onet")
    if not cfg.catalog:
        raise ValueError(
            "--source needs a catalog folder to import into: set `catalog:` in the config or --catalog"
        )
    extra = []
    if args.mobility:
        if kind != "onet":
            raise ValueError("--mobility works with an O*NET release (the crosswalk maps O*NET-SOC codes)")
        extra = ["--mobility", args.mobility]
    module = importlib.import_module(f"careerpath.importers.{kind}")
    return module.main([*args.source, "--out", str(cfg.catalog), *extra])


def _check_build_targets(args: argparse.Namespace, shard: tuple[int, int] | None) -> None:
    """``--shard``, ``--push-to-hub``, ``--save-to-disk``: checked before minutes of building."""
    if shard and (args.save_to_disk or args.push_to_hub):
        raise ValueError(
            "--shard writes one part of a dataset: save or push the merged one (`careerpath data merge`)"
        )
    if args.push_to_hub:
        from careerpath.model.hub import HUB_ID

        if not HUB_ID.match(args.push_to_hub):
            raise ValueError(f"--push-to-hub {args.push_to_hub!r}: expected 'user-or-org/dataset-name'")
    if args.save_to_disk:
        from careerpath.data.splits import check_save_target

        check_save_target(args.save_to_disk)


def _print_shard(args: argparse.Namespace, shard: tuple[int, int], stats: dict) -> None:
    ex = stats["examples"]
    if args.json:
        print_json({"out": str(args.out), "shard": list(shard), **stats})
    else:
        print(
            f"wrote shard {shard[0]}/{shard[1]} to {args.out}: {stats['users']} users, examples "
            f"train/validation/test = {ex['train']}/{ex['validation']}/{ex['test']} in {stats['seconds']} s; "
            "join the shards with `careerpath data merge`"
        )


def _save_and_push(args: argparse.Namespace, stats: dict) -> int:
    """``--save-to-disk`` and ``--push-to-hub`` after the build (noted in ``stats``); 1: the upload failed."""
    if args.save_to_disk:
        from careerpath.data.splits import save_to_disk

        saved = save_to_disk(args.out, args.save_to_disk)
        stats["saved_to_disk"] = str(saved)
        if not args.json:
            print(f"saved the DatasetDict (Arrow) to {saved}")
    if args.push_to_hub:
        from careerpath.model.hub import push_dataset

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
    from careerpath.data.build import merge_shards

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

    from careerpath.data.build import DataConfig, SynthesisConfig

    top = {f.name for f in fields(DataConfig)}
    for key in overrides:
        section = key.split(".")[0]
        if section not in top and not ("." not in key and key in {f.name for f in fields(SynthesisConfig)}):
            flag = "--" + key.replace("_", "-")
            raise ValueError(
                f"{flag}: not a key of the data config; known sections and keys: {', '.join(sorted(top))}"
            )


def _data_validate(args: argparse.Namespace) -> int:
    from careerpath.core.catalog import load_catalog
    from careerpath.core.progression import Progression

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
