"""``careerpath data import-onet``: a careerpath catalog from the O*NET database as published.

    careerpath data import-onet PATH --out CATALOG_DIR [--config configs/data/onet_import.yaml]
                                [--courses DIR] [--set KEY=VALUE ...]

``PATH`` is the Excel release folder (``*.xlsx``, one sheet per file), the tab-delimited text
release folder (``*.txt``), or a zip of either (files may sit in one sub-folder). The columns are
the same in both formats. What becomes what (thresholds in ``configs/data/onet_import.yaml``):

- jobs: ``Occupation Data`` (O*NET-SOC code as id, title, description); level from ``Job Zones``
  (1-5; occupations without a zone take the median zone of their SOC minor group); ``Alternate
  Titles`` as alt_titles (at most ``max_alt_titles``, shortest first); family from the SOC major
  group (first two digits, e.g. 29 = Healthcare Practitioners and Technical Occupations).
- skills: the ``Skills`` and ``Knowledge`` elements. An element is required by a job when its
  importance IM (1-5) is at least ``min_importance`` and its level LV (0-7) at least ``min_level``;
  importance = (1 - level_weight) * (IM - 1) / 4 + level_weight * LV / 7, in [0, 1]. An element
  that passes ``min_importance`` for more than ``generic_share`` of the rated occupations is
  generic (held by most occupations: Active Listening, Speaking, Critical Thinking, Reading
  Comprehension, English Language, Customer and Personal Service in 29.3): its importance is
  multiplied by ``generic_weight``, so that what distinguishes an occupation ranks first and
  carries most of its weight. A job keeps its ``max_skills_per_job`` most important elements and
  at least ``min_skills_per_job``. Occupations O*NET has not rated take the mean ratings of the
  rated occupations that share their SOC code prefix (same detailed occupation, else broad group,
  minor group, major group).
- technology skills: ``Technology Skills`` examples flagged Hot Technology or In Demand for that
  occupation (``tech: hot``; ``all`` keeps every example, ``none`` none) and listed by at most
  ``max_tech_share`` of the occupations (Microsoft Excel is listed by 93%, SAP by 31%: they
  distinguish no one), at most ``max_tech_per_job`` per job (In Demand for the job first, then
  Hot, then those most occupations list). Examples of general office software (``office_commodities``: spreadsheet,
  office suite, word processing, e-mail, presentation, browser, calendar, document management)
  become one "Office software" skill of weight ``office_weight``. Importance = tech_importance (+
  tech_hot_bonus when Hot, + tech_in_demand_bonus when In Demand for that job). Skill.demand =
  0.5 * Hot + 0.5 * the share of the skill's occupations that mark it In Demand; Job.demand = the
  mean of the Hot and the In Demand share over the job's technology rows. The import report
  (``import_report.yaml``) counts the skills per occupation and lists what was weighted down,
  dropped and collapsed.
- transitions: ``Related Occupations``; weight = tier weight (Primary-Short 1.0, Primary-Long 0.6,
  Supplemental 0.3 by default) * (1 - index_decay * (Index - 1)).
- courses: see :func:`attach_courses` (re-tagged bundled or user courses plus generated ones).

Names may not contain the text format's separators, so titles and names are sanitised
(:func:`sanitise_name`) and duplicates disambiguated with their code. The catalog is validated
with :func:`careerpath.core.catalog.load_catalog` and written atomically (temporary folder, then rename).

This module is the command line and re-exports the public names of the parts: ``onet_names``
(sanitised, unique names; cell values), ``onet_release`` (reading a release: :class:`Release`,
:func:`onet_rows`, :func:`read_tables`), ``onet_config`` (:class:`OnetImportConfig`,
:class:`CourseConfig`), ``onet_skills`` (element and technology skills, their weights per job),
``onet_courses`` (:func:`attach_courses`, :func:`write_catalog_atomically`) and ``onet_import``
(:func:`import_onet`, step by step).
"""

from __future__ import annotations

import argparse
import sys

import yaml

from careerpath.core.catalog import CatalogError
from careerpath.core.cli_common import (
    ArgumentParser,
    HelpFormatter,
    add_importer_flags,
    add_json_flag,
    print_json,
    require_path,
    take_overrides,
    yaml_sets,
)
from careerpath.core.config import bundled_config
from careerpath.importers.onet_config import CourseConfig, OnetImportConfig, load_import_config
from careerpath.importers.onet_courses import GENERATED_PROVIDER, attach_courses, write_catalog_atomically
from careerpath.importers.onet_import import SOC_MAJOR_GROUPS, _plain, import_onet
from careerpath.importers.onet_names import (
    MAX_NAME_CHARS,
    UniqueNames,
    _flag,
    _num,
    _s,
    keep_apart,
    sanitise_name,
    slug,
)
from careerpath.importers.onet_release import (
    CODE,
    ONET_TABLES,
    REQUIRED_TABLES,
    Release,
    SourceError,
    onet_rows,
    read_tables,
)
from careerpath.importers.onet_skills import OFFICE_ID


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="careerpath data import-onet",
        description="Build a careerpath catalog from an O*NET release. Any key of the import config is a "
        "flag too: --min-importance 3.0, --courses.generate false.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("path", help="O*NET release: the Excel (*.xlsx) or text (*.txt) folder, or its zip")
    add_importer_flags(p, "onet", "--tech all, --courses.generate false")
    p.add_argument(
        "--mobility",
        default=None,
        help="folder of observed US mobility (cps_*.csv, onet_to_cps.csv): transitions become "
        "p(next job | job) learned from it (see docs/mobility.md)",
    )
    add_json_flag(p)
    return p


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None):
    """The parser's arguments and the ``--key value`` config overrides (``--set`` still read, warned)."""
    rest, overrides = take_overrides(parser, list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(rest)
    overrides = {**yaml_sets(args.set), **overrides}
    for path in args.path if isinstance(args.path, list) else [args.path]:  # inputs before any write
        require_path(path, "PATH", hint="give the release as downloaded (folder or zip)")
    if args.config:
        require_path(args.config, "--config", "file")
    if args.courses:
        require_path(args.courses, "--courses", "dir", hint="give a course catalog folder")
    return args, overrides


def main(argv: list[str] | None = None) -> int:
    try:
        args, overrides = parse_args(build_parser(), argv)
        cfg = load_import_config(
            OnetImportConfig, args.config or bundled_config("data/onet_import.yaml"), overrides=overrides
        )
        catalog, report = import_onet(args.path, cfg, args.courses, args.mobility)
        loaded = write_catalog_atomically(catalog, args.out, report)
    except (SourceError, CatalogError, yaml.YAMLError, TypeError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    s = loaded.summary()
    c = report["courses"]
    if args.json:
        print_json({"out": str(args.out), "catalog": s, "report": report})
        return 0
    if "mobility" in report:
        from careerpath.importers.mobility import ATTRIBUTION

        m = report["mobility"]["cv_metrics"]
        held_out = (
            f"held-out Recall@10 {m['recall@10']:.3f}, Hit@10 {m['hit@10']:.3f}, MRR {m['mrr']:.3f} "
            f"({m['sources']} sources, grouped CV)"
            if m["sources"]
            else "no source with 5 observed destinations to score"
        )
        print(f"transitions from observed mobility: {held_out}. {ATTRIBUTION}")
    print(
        f"wrote {args.out}: {s['jobs']} jobs in {s['families']} families, {s['skills']} skills "
        f"({report['technology_skills']} technology), {s['transitions']} transitions, {s['courses']} courses "
        f"({c['retagged_courses']} re-tagged, {c['generated_courses']} generated)"
    )
    return 0


__all__ = [
    "CODE",
    "GENERATED_PROVIDER",
    "MAX_NAME_CHARS",
    "OFFICE_ID",
    "ONET_TABLES",
    "REQUIRED_TABLES",
    "SOC_MAJOR_GROUPS",
    "CourseConfig",
    "OnetImportConfig",
    "Release",
    "SourceError",
    "UniqueNames",
    "_flag",
    "_num",
    "_plain",
    "_s",
    "attach_courses",
    "build_parser",
    "import_onet",
    "keep_apart",
    "load_import_config",
    "main",
    "onet_rows",
    "parse_args",
    "read_tables",
    "sanitise_name",
    "slug",
    "write_catalog_atomically",
]


if __name__ == "__main__":
    sys.exit(main())
