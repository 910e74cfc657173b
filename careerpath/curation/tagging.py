"""Semi-automated skill tagging: propose skills for courses and jobs, review them, merge the accepted.

``careerpath data tag --catalog DIR --out review.csv`` reads each course's and job's title and
description (never the item's own existing tags) and proposes skills from the catalog's taxonomy by three
methods, strongest first:

* ``name`` / ``alias``: the skill name or one of its aliases appears in the text as whole words
  (word boundaries; names of three characters or fewer, like "R", "Go", "UI", must match with
  their case, since "go" and "ui" are also plain words or parts of other terms);
* ``stem``: the same words up to simple inflection and order ("unit tests" -> Unit Testing,
  "handle objections" -> Objection Handling);
* ``embedding``: a sentence or phrase of the text is close to the skill name in all-MiniLM-L6-v2
  space (cosine similarity; batched, cached on disk by :class:`careerpath.core.embeddings.Embedder`).

Jobs (``neighbours``, default on): a job's one-sentence description names few of its skills, so
its text matches are combined with the rest of the catalog: the skills of the most similar *other*
tagged jobs, of its career-step (transition) neighbours and of the closest courses, through a small
logistic model; the evidence names those jobs and courses. A job's own tags are never used for it.

Mentions inside a prerequisite sentence ("Assumes familiarity with SQL.") name what a course needs,
not what it teaches, so their confidence is scaled down. Each proposal has a confidence in [0, 1]
and the evidence (the matching words, or the closest sentence). Proposals at or above
``threshold`` are pre-accepted in the review file; weaker candidates down to ``review_floor`` are
listed with an empty accept cell for a person to decide. ``careerpath data apply-tags review.csv
--catalog DIR`` merges the accepted rows into the catalog.

This module is the command line and re-exports the public names of the parts:
``tagging_config`` (:class:`TaggingConfig`), ``tagging_text`` (encoders, words, stems, sentences),
``tagging_match`` (:func:`propose`), ``tagging_neighbours`` (the job neighbour model),
``tagging_eval`` (:func:`evaluate_tagging`, :func:`fit_neighbour_model`) and ``tagging_review``
(the review CSV, :func:`apply_tags`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from careerpath.core.catalog import BUNDLED_DIR, CatalogError, load_catalog
from careerpath.core.cli_common import (
    ArgumentParser,
    HelpFormatter,
    add_json_flag,
    print_json,
    require_path,
    take_overrides,
)
from careerpath.curation.tagging_config import (
    DEFAULT_CONFIG,
    NEIGHBOUR_FEATURES,
    REVIEW_COLUMNS,
    TaggingConfig,
    load_tagging_config,
)
from careerpath.curation.tagging_eval import (
    evaluate,
    evaluate_tagging,
    fit_neighbour_model,
    gold_tags,
    tuning_split,
)
from careerpath.curation.tagging_match import (
    Proposal,
    propose,
)
from careerpath.curation.tagging_neighbours import (
    NeighbourFeatures,
    neighbour_confidence,
    neighbour_features,
)
from careerpath.curation.tagging_review import (
    apply_tags,
    read_accepted,
    review_rows,
    save_catalog_atomic,
    write_review,
)
from careerpath.curation.tagging_text import (
    Encoder,
    HashingEncoder,
    make_encoder,
    stem,
)


def _tag(args) -> int:
    overrides = {
        "threshold": args.threshold,
        "review_floor": args.review_floor,
        "encoder": args.encoder,
        "cache_dir": args.cache_dir,
    }
    if args.no_embeddings:
        overrides["embeddings"] = False
    if args.no_neighbours:
        overrides["neighbours"] = False
    overrides.update(getattr(args, "overrides", {}))
    _check_inputs(args)
    cfg = load_tagging_config(args.config, overrides)
    catalog = load_catalog(args.catalog, allow_untagged=True)  # tagging is how untagged items get skills
    kinds = ("course", "job") if args.kinds == "all" else (args.kinds,)
    start = time.perf_counter()
    proposals = propose(catalog, cfg, make_encoder(cfg), kinds)
    rows = review_rows(catalog, proposals, cfg, args.hide_existing)
    write_review(Path(args.out), rows)
    pre = sum(r["accept"] == "yes" for r in rows)
    if args.json:
        result = {
            "out": str(args.out),
            "proposals": len(rows),
            "pre_accepted": pre,
            "threshold": cfg.threshold,
        }
        result["courses"] = len(catalog.courses) if "course" in kinds else 0
        result["jobs"] = len(catalog.jobs) if "job" in kinds else 0
        if args.evaluate:
            result["agreement"] = evaluate(proposals, gold_tags(catalog, kinds), cfg.threshold)
        print_json(result)
        return 0
    print(
        f"wrote {len(rows)} proposals ({pre} pre-accepted at confidence >= {cfg.threshold}) for "
        f"{len(catalog.courses) if 'course' in kinds else 0} courses and "
        f"{len(catalog.jobs) if 'job' in kinds else 0} jobs to {args.out} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    if args.evaluate:
        gold = gold_tags(catalog, kinds)
        m = evaluate(proposals, gold, cfg.threshold)
        print(
            f"agreement with the existing tags at {cfg.threshold}: precision {m['precision']:.3f} "
            f"recall {m['recall']:.3f} F1 {m['f1']:.3f} ({m['correct']}/{m['gold']} tags found)"
        )
    print(f"next: edit the accept column, then `careerpath data apply-tags {args.out} --catalog DIR`")
    return 0


def _check_inputs(args) -> None:
    """Every input path exists before anything is written (the error names the flag and the path)."""
    if getattr(args, "review", None) is not None:
        require_path(args.review, "REVIEW", "file", hint="write one with `careerpath data tag`")
    if args.config is not None:  # (the catalog: load_catalog, before anything is written)
        require_path(args.config, "--config", "file", hint="give a tagging YAML")


def _apply(args) -> int:
    if args.catalog is None and args.out is None:
        raise ValueError(f"pass --out DIR: the bundled catalog ({BUNDLED_DIR}) is not edited in place")
    _check_inputs(args)
    cfg = load_tagging_config(args.config, getattr(args, "overrides", {}))
    catalog = load_catalog(args.catalog, allow_untagged=True)
    accepted = read_accepted(Path(args.review), catalog)
    new, added = apply_tags(catalog, accepted, cfg.job_importance)
    out = Path(args.out or args.catalog)
    save_catalog_atomic(new, out)
    if args.json:
        print_json({"out": str(out), "added": added, "accepted_rows": len(accepted)})
        return 0
    print(f"applied {added} new tag(s) from {len(accepted)} accepted row(s); catalog written to {out}")
    left = new.untagged
    if left["courses"] or left["jobs"]:
        print(
            f"still without skills: {len(left['courses'])} course(s) {_few(left['courses'])} and "
            f"{len(left['jobs'])} job(s) {_few(left['jobs'])}; accept more rows of {args.review} (or tag "
            "them by hand) before `careerpath data build`"
        )
    return 0


def _few(ids: list[str], n: int = 5) -> str:
    return "(" + ", ".join(ids[:n]) + (", ..." if len(ids) > n else "") + ")" if ids else ""


def build_parser() -> argparse.ArgumentParser:
    ap = ArgumentParser(
        prog="careerpath data", description="skill tagging with a review step", formatter_class=HelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="<command>")
    tag = sub.add_parser(
        "tag",
        prog="careerpath data tag",
        help="propose skills for courses and jobs into a review CSV",
        description="propose skills for courses and jobs into a review CSV; any key of the tagging config "
        "is a flag too (e.g. --job-importance 0.6)",
        formatter_class=HelpFormatter,
    )
    tag.add_argument("--catalog", help="catalog folder (default: the bundled catalog)")
    tag.add_argument("--out", required=True, help="review CSV to write")
    tag.add_argument("--config", help=f"tagging YAML (default: the bundled configs/{DEFAULT_CONFIG})")
    tag.add_argument("--threshold", type=float, help="pre-accept proposals at or above this confidence")
    tag.add_argument("--review-floor", type=float, help="list candidates down to this confidence")
    tag.add_argument("--kinds", choices=("course", "job", "all"), default="all", help="what to tag")
    tag.add_argument("--encoder", choices=("minilm", "hashing"), help="sentence encoder")
    tag.add_argument("--cache-dir", help="embedding cache folder")
    tag.add_argument("--no-embeddings", action="store_true", help="word matches only")
    tag.add_argument(
        "--no-neighbours",
        action="store_true",
        help="tag jobs from their own text only (not from similar tagged jobs, transitions, courses)",
    )
    tag.add_argument(
        "--hide-existing", action="store_true", help="leave out proposals the item is already tagged with"
    )
    tag.add_argument(
        "--evaluate", action="store_true", help="print precision/recall/F1 against the existing tags"
    )
    add_json_flag(tag)
    tag.set_defaults(func=_tag)
    app = sub.add_parser(
        "apply",
        prog="careerpath data apply-tags",
        help="merge the accepted rows of a review CSV into the catalog",
        description="merge the accepted rows of a review CSV into the catalog",
        formatter_class=HelpFormatter,
    )
    app.add_argument("review", help="review CSV from `careerpath data tag`, accept column filled")
    app.add_argument("--catalog", help="catalog folder (default: the bundled catalog; then --out is needed)")
    app.add_argument("--out", help="folder to write the tagged catalog to (default: --catalog, in place)")
    app.add_argument("--config", help=f"tagging YAML (default: the bundled configs/{DEFAULT_CONFIG})")
    add_json_flag(app)
    app.set_defaults(func=_apply)
    return ap


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    rest, overrides = take_overrides(parser, list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(rest)
    args.overrides = overrides
    try:
        return args.func(args)
    except (CatalogError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


__all__ = [
    "DEFAULT_CONFIG",
    "NEIGHBOUR_FEATURES",
    "REVIEW_COLUMNS",
    "Encoder",
    "HashingEncoder",
    "NeighbourFeatures",
    "Proposal",
    "TaggingConfig",
    "apply_tags",
    "build_parser",
    "evaluate",
    "evaluate_tagging",
    "fit_neighbour_model",
    "gold_tags",
    "load_tagging_config",
    "main",
    "make_encoder",
    "neighbour_confidence",
    "neighbour_features",
    "propose",
    "read_accepted",
    "review_rows",
    "save_catalog_atomic",
    "stem",
    "tuning_split",
    "write_review",
]

if __name__ == "__main__":
    sys.exit(main())
