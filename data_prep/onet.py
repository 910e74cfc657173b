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
with :func:`data_prep.catalog.load_catalog` and written atomically (temporary folder, then rename).
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import statistics
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml
from rapidfuzz import fuzz, process

from careerpath.atomic import atomic_dir
from careerpath.config import bundled_config, check_keys, read_yaml
from data_prep.catalog import (
    BUNDLED_DIR,
    ROW_MERGE_MIN,
    Catalog,
    CatalogError,
    Course,
    Job,
    Skill,
    Transition,
    load_catalog,
)
from data_prep.cleaning import NameIndex, clean_text, compact_key, find_near_duplicates, name_key

GENERATED_PROVIDER = "careerpath-generated"
OFFICE_ID = "tech-office-software"  # general office software, collapsed into one skill
MAX_NAME_CHARS = 120

# SOC 2018 major groups (the first two digits of an O*NET-SOC code)
SOC_MAJOR_GROUPS = {
    "11": "Management Occupations",
    "13": "Business and Financial Operations Occupations",
    "15": "Computer and Mathematical Occupations",
    "17": "Architecture and Engineering Occupations",
    "19": "Life Physical and Social Science Occupations",
    "21": "Community and Social Service Occupations",
    "23": "Legal Occupations",
    "25": "Educational Instruction and Library Occupations",
    "27": "Arts Design Entertainment Sports and Media Occupations",
    "29": "Healthcare Practitioners and Technical Occupations",
    "31": "Healthcare Support Occupations",
    "33": "Protective Service Occupations",
    "35": "Food Preparation and Serving Related Occupations",
    "37": "Building and Grounds Cleaning and Maintenance Occupations",
    "39": "Personal Care and Service Occupations",
    "41": "Sales and Related Occupations",
    "43": "Office and Administrative Support Occupations",
    "45": "Farming Fishing and Forestry Occupations",
    "47": "Construction and Extraction Occupations",
    "49": "Installation Maintenance and Repair Occupations",
    "51": "Production Occupations",
    "53": "Transportation and Material Moving Occupations",
    "55": "Military Specific Occupations",
}

CODE = "O*NET-SOC Code"
# file -> columns the importer reads (all others are ignored)
ONET_TABLES = {
    "Occupation Data": (CODE, "Title", "Description"),
    "Skills": (CODE, "Element ID", "Element Name", "Scale ID", "Data Value"),
    "Knowledge": (CODE, "Element ID", "Element Name", "Scale ID", "Data Value"),
    "Job Zones": (CODE, "Job Zone"),
    "Alternate Titles": (CODE, "Alternate Title"),
    "Technology Skills": (CODE, "Example", "Commodity Title", "Hot Technology", "In Demand"),
    "Related Occupations": (CODE, "Related O*NET-SOC Code", "Relatedness Tier", "Index"),
    "Tasks to DWAs": (CODE, "DWA ID"),  # read by the transition model (data_prep/mobility.py) only
}
REQUIRED_TABLES = ("Occupation Data", "Skills", "Knowledge")


class SourceError(ValueError):
    """A release that cannot be imported: names the file, sheet or column and what to do."""


# ---------------------------------------------------------------- config


@dataclass
class CourseConfig:
    """How courses are attached to an imported catalog (shared by the O*NET and ESCO importers)."""

    fuzzy_threshold: float = 92.0
    """rapidfuzz ratio for matching a course's own skill names to imported skill names."""
    text_match: bool = True
    """Also tag a course with imported skills whose name appears as whole words in its title/description."""
    text_match_min_chars: int = 4
    """Skill names shorter than this are not looked for in course text (too ambiguous)."""
    max_skills_per_course: int = 6
    """Most imported skills one re-tagged course teaches (own skills first, then title, then description)."""
    generate: bool = True
    """Generate a "Foundations of <skill>" course for every required skill no course teaches."""
    generated_hours: float = 12.0
    """Hours of a generated course."""


@dataclass
class OnetImportConfig:
    """Thresholds of ``careerpath data import-onet`` (configs/data/onet_import.yaml)."""

    min_importance: float = 3.5
    """Keep a Skills/Knowledge element for a job when its importance IM (1-5) is at least this."""
    min_level: float = 0.0
    """... and its level LV (0-7) is at least this."""
    level_weight: float = 0.5
    """importance = (1 - w) * (IM - 1) / 4 + w * LV / 7."""
    max_skills_per_job: int = 12
    """Most Skills/Knowledge elements per job (most important first)."""
    min_skills_per_job: int = 3
    """Jobs with fewer elements above the thresholds keep their top ones up to this many."""
    generic_share: float = 0.5
    """An element that passes ``min_importance`` for more than this share of the rated occupations
    is generic (held by most occupations: Active Listening, Speaking, Critical Thinking, Reading
    Comprehension, English Language, Customer and Personal Service in 29.3) ..."""
    generic_weight: float = 0.5
    """... and its importance is multiplied by this (0: generic elements are dropped), so that an
    occupation's distinguishing elements rank first and carry most of its weight."""
    tech: str = "hot"
    """Technology Skills examples kept: hot (Hot Technology or In Demand) | all | none."""
    max_tech_per_job: int = 4
    """Most technology skills per job (In Demand first, then Hot, then listed by most occupations)."""
    max_tech_share: float = 0.2
    """A technology example listed by more than this share of the occupations with technology rows
    does not distinguish one (Microsoft Excel: 93%, SAP: 31%, Microsoft Windows: 26%): dropped."""
    office_commodities: list[str] = field(
        default_factory=lambda: [
            "Spreadsheet software",
            "Office suite software",
            "Word processing software",
            "Electronic mail software",
            "Presentation software",
            "Internet browser software",
            "Calendar and scheduling software",
            "Document management software",
        ]
    )
    """Commodity titles of general office software: their examples become one "Office software" skill."""
    office_weight: float = 0.25
    """Importance of "Office software" for an occupation listing such an example as Hot or In
    Demand (0: dropped), below every distinguishing skill."""
    tech_importance: float = 0.45
    """Importance of a technology skill for a job ..."""
    tech_hot_bonus: float = 0.1
    """... plus this when it is a Hot Technology ..."""
    tech_in_demand_bonus: float = 0.15
    """... plus this when the job marks it In Demand (0.7 at most: below an occupation's top
    Skills/Knowledge elements, which O*NET rates on its own importance and level scales)."""
    max_alt_titles: int = 10
    """Alternate titles kept per job (shortest first, sanitised, duplicates dropped)."""
    tier_weights: dict[str, float] = field(
        default_factory=lambda: {"Primary-Short": 1.0, "Primary-Long": 0.6, "Supplemental": 0.3}
    )
    """Transition weight of each Related Occupations tier."""
    index_decay: float = 0.02
    """Weight multiplier 1 - index_decay * (Index - 1) within the related list (Index 1-20)."""
    max_related_per_job: int = 0
    """Keep only the first N related occupations per job by Index (0: all)."""
    mobility_max_per_job: int = 10
    """With --mobility: most transitions written per job (highest p(next job | job) first)."""
    mobility_l2: float = 0.01
    """With --mobility: L2 penalty of the transition model (data_prep/mobility.py)."""
    mobility_embeddings: bool = True
    """With --mobility: use the MiniLM title-similarity feature (skipped when the model is not installed)."""
    courses: CourseConfig = field(default_factory=CourseConfig)
    """How courses are attached (re-tagging, generated courses)."""


def load_import_config(
    cls, path: str | Path | None, sets: list[str] | None = None, overrides: dict | None = None
):
    """Read an importer config YAML, apply ``KEY=VALUE`` items and ``{"KEY": value}`` overrides
    (``courses.KEY`` for nested; on the command line ``--courses.generate false``)."""
    raw = read_yaml(path) if path else {}
    items = []
    for item in sets or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SourceError(f"--set {item!r}: expected KEY=VALUE; better: --min-importance 3.0")
        items.append((key.strip(), yaml.safe_load(value)))
    known = {f.name for f in fields(cls)}
    for key in overrides or {}:
        if key.split(".")[0] not in known:
            flag = "--" + key.replace("_", "-")
            raise SourceError(f"{flag}: not a key of the import config; known: {', '.join(sorted(known))}")
    for key, value in [*items, *(overrides or {}).items()]:
        target = raw
        *parents, leaf = key.split(".")
        for p in parents:
            target = target.setdefault(p, {})
        target[leaf] = value
    return _dataclass_from(cls, raw, str(path or "config"))


def _dataclass_from(cls, raw: dict, where: str):
    check_keys(raw, cls, where)
    kwargs = {}
    for name, value in raw.items():
        if name == "courses":
            kwargs[name] = _dataclass_from(CourseConfig, value or {}, f"{where}: courses")
        else:
            kwargs[name] = value
    return cls(**kwargs)


# ---------------------------------------------------------------- reading the release


class Release:
    """The files of a release: a folder (searched recursively) or a zip of one."""

    def __init__(self, path: str | Path, what: str = "O*NET"):
        self.path = Path(path)
        self.what = what
        if not self.path.exists():
            raise SourceError(f"{self.path}: not found; pass the {what} release folder or zip")
        self.zip = None
        if self.path.is_file():
            if not zipfile.is_zipfile(self.path):
                raise SourceError(
                    f"{self.path}: not a folder or a zip; pass the {what} release folder or zip"
                )
            self.zip = zipfile.ZipFile(self.path)
            self.members = [n for n in self.zip.namelist() if not n.endswith("/")]
        else:
            self.members = [str(p.relative_to(self.path)) for p in self.path.rglob("*") if p.is_file()]

    def find(self, stem: str, exts: tuple[str, ...]) -> str | None:
        """The member whose file name is ``stem.ext`` (case-insensitive), shortest path first."""
        wanted = {f"{stem}.{e}".lower() for e in exts}
        hits = sorted((m for m in self.members if Path(m).name.lower() in wanted), key=len)
        return hits[0] if hits else None

    def read_bytes(self, member: str) -> bytes:
        if self.zip is not None:
            return self.zip.read(member)
        return (self.path / member).read_bytes()

    def open(self, member: str):
        if self.zip is not None:
            return io.BytesIO(self.zip.read(member))
        return open(self.path / member, "rb")

    def label(self, member: str) -> str:
        return f"{self.path.name}:{member}" if self.zip is not None else str(self.path / member)


def _decode(data: bytes) -> str:
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def onet_rows(release: Release, table: str, required: bool = True) -> Iterator[dict] | None:
    """Rows of an O*NET table (``.xlsx`` streamed with openpyxl read-only, or tab-delimited ``.txt``).

    Returns None for a missing optional table; raises :class:`SourceError` naming the file and the
    missing columns otherwise.
    """
    member = release.find(table, ("xlsx", "txt"))
    if member is None:
        if required:
            raise SourceError(
                f"{release.path}: no '{table}.xlsx' or '{table}.txt'; pass the O*NET database folder or zip "
                "(Excel or text release, e.g. db_29_3_excel) that holds it"
            )
        return None
    columns = ONET_TABLES[table]
    if member.lower().endswith(".xlsx"):
        return _xlsx_rows(release, member, table, columns)
    return _txt_rows(release, member, table, columns)


def _check_header(header: list[str], columns, where: str) -> dict[str, int]:
    pos = {clean_text(h or ""): i for i, h in enumerate(header)}
    missing = [c for c in columns if c not in pos]
    if missing:
        raise SourceError(
            f"{where}: missing column(s) {', '.join(repr(c) for c in missing)} in the header row "
            f"(found {', '.join(repr(h) for h in pos if h) or 'nothing'}); use the file as published"
        )
    return {c: pos[c] for c in columns}


def _xlsx_rows(release: Release, member: str, table: str, columns) -> Iterator[dict]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(release.open(member), read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises several types for a damaged file
        raise SourceError(f"{release.label(member)}: not a readable .xlsx file ({e})") from None
    ws = wb.worksheets[0]
    where = f"{release.label(member)} (sheet '{ws.title}')"
    it = ws.iter_rows(values_only=True)
    header = next(it, None)
    if header is None:
        wb.close()
        raise SourceError(f"{where}: empty sheet; expected a header row with {', '.join(columns)}")
    pos = _check_header([str(h) if h is not None else "" for h in header], columns, where)
    return _gen_rows(it, pos, wb)


def _gen_rows(it, pos, wb=None) -> Iterator[dict]:
    try:
        for row in it:
            if not row or all(v is None or v == "" for v in row):
                continue
            yield {c: (row[i] if i < len(row) else None) for c, i in pos.items()}
    finally:
        if wb is not None:
            wb.close()


def _txt_rows(release: Release, member: str, table: str, columns) -> Iterator[dict]:
    text = _decode(release.read_bytes(member))
    reader = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    where = release.label(member)
    if header is None:
        raise SourceError(
            f"{where}: empty file; expected a tab-separated header row with {', '.join(columns)}"
        )
    pos = _check_header(header, columns, where)
    return _gen_rows(reader, pos)


# ---------------------------------------------------------------- names


_SEPARATORS = str.maketrans({"|": "/", ">": "-", "\\": "/", ";": " -", "\n": " ", "\t": " "})


def sanitise_name(text, limit: int = MAX_NAME_CHARS) -> str:
    """A name without the text format's separators: commas dropped, ``;`` ``|`` ``>`` ``\\`` replaced."""
    text = clean_text(str(text or "")).translate(_SEPARATORS).replace(",", "")
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0]
    return text.strip(" -/")


class UniqueNames:
    """Keeps names unique (case- and punctuation-insensitive): a clash gets ``(suffix)`` appended."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def take(self, name: str, suffix: str) -> str:
        out = name
        if compact_key(out) in self.seen:
            out = f"{name} ({sanitise_name(suffix)})"
            n = 2
            while compact_key(out) in self.seen:
                out = f"{name} ({sanitise_name(suffix)} {n})"
                n += 1
        self.seen.add(compact_key(out))
        return out

    def __contains__(self, name: str) -> bool:
        return compact_key(name) in self.seen


def keep_apart(skills: dict[str, Skill], threshold: float = ROW_MERGE_MIN) -> list[tuple[str, str]]:
    """Rename skills whose names the catalog loader would merge as near-duplicates (in place).

    :func:`data_prep.catalog.load_catalog` merges skill rows whose names score >= 95 (rapidfuzz), which
    is right for "Javascript" vs "JavaScript" but wrong for distinct official concepts such as ESCO's
    "understand written Japanese" / "understand written Javanese" or "import" / "export"
    restrictions. The second of each pair gets its category (then its id) appended until no pair is
    left. Returns ``(old name, new name)`` pairs for the import report.
    """
    renamed = []
    for _ in range(3):
        pairs = find_near_duplicates({k: v.name for k, v in skills.items()}, threshold)
        if not pairs:
            break
        taken = {compact_key(s.name) for s in skills.values()}
        for _, drop, _ in pairs:
            old = skills[drop]
            # "esco-skill/competence-cross-sector" -> "skill", "onet-technology: ..." -> "technology"
            label = re.split(r"[:/-]", old.category.split("-", 1)[-1])[0] or "skill"
            for suffix in (label, f"{label} {old.id[:8]}", old.id):
                new = f"{old.name} ({sanitise_name(suffix)})"
                if compact_key(new) not in taken:
                    break
            taken.add(compact_key(new))
            skills[drop] = Skill(old.id, new, old.aliases, old.category, old.demand)
            renamed.append((old.name, new))
    return renamed


def slug(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "-", name_key(text)).strip("-")[:60] or "x"


def _s(value) -> str:
    return "" if value is None else str(value).strip()


def _num(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _flag(value) -> bool:
    return str(value or "").strip().upper() in ("Y", "YES", "TRUE", "1")


# ---------------------------------------------------------------- courses


def attach_courses(
    skills: dict[str, Skill],
    jobs: dict[str, Job],
    cfg: CourseConfig,
    courses_dir: str | Path | None = None,
    title_of=None,
) -> tuple[dict[str, Course], dict]:
    """Courses for an imported catalog, and a report of what was matched and generated.

    1. Every course of ``courses_dir`` (default: the bundled catalog) is re-tagged against the
       imported skills: its own skill names and aliases resolved through a :class:`NameIndex` of the
       imported skills (exact, alias, then rapidfuzz at ``fuzzy_threshold``), then imported skill
       names found as whole words in its title, then in its description; at most
       ``max_skills_per_course``. Courses matching no imported skill are left out.
    2. Every skill some job requires that no course teaches gets one generated course,
       "Foundations of <skill>" (or ``title_of(skill)``), provider ``careerpath-generated``: synthetic placeholders so that
       every required skill can be learnt, to be replaced by real courses (``--courses DIR``).
       (One per skill: the synthesis treats a skill as held or not, so a second, advanced course
       on the same skill would never be chosen.)
    """
    source = load_catalog(courses_dir or BUNDLED_DIR)
    index = NameIndex("skill", fuzzy_threshold=cfg.fuzzy_threshold)
    for s in skills.values():
        index.add(s.id, s.name, s.aliases)
    # fuzzy matching against one prepared list of keys (NameIndex.resolve rebuilds it per call)
    fuzzy_keys = {k: v for k, v in {**index._alias, **index._exact}.items() if len(k) >= index.min_fuzzy_len}
    key_list = list(fuzzy_keys)
    resolved: dict[str, str | None] = {}

    def resolve(name: str) -> str | None:
        if name not in resolved:
            sid, _ = index.resolve(name, fuzzy=False)
            compact = compact_key(name)
            if sid is None and len(compact) >= index.min_fuzzy_len and key_list:
                best = process.extractOne(
                    compact, key_list, scorer=fuzz.ratio, score_cutoff=cfg.fuzzy_threshold
                )
                sid = fuzzy_keys[best[0]] if best else None
            resolved[name] = sid
        return resolved[name]

    # whole-word matching of skill names in course text: every word n-gram of the text is looked up
    # in a table of skill-name keys (linear in the text, whatever the number of skills)
    by_key: dict[str, str] = {}
    if cfg.text_match:
        for s in skills.values():
            key = name_key(s.name)
            if len(key) >= cfg.text_match_min_chars:
                by_key.setdefault(key, s.id)
    longest = max((k.count(" ") + 1 for k in by_key), default=0)

    def text_hits(text: str) -> list[str]:
        words = name_key(text).split()
        out = []
        for i in range(len(words)):
            for n in range(1, min(longest, len(words) - i) + 1):
                sid = by_key.get(" ".join(words[i : i + n]))
                if sid and sid not in out:
                    out.append(sid)
        return out

    courses: dict[str, Course] = {}
    titles = UniqueNames()
    matched = {"own": 0, "title": 0, "description": 0}
    for c in source.courses.values():
        tags: list[str] = []
        how: list[str] = []

        def add(sid, kind, tags=tags, how=how):
            if sid and sid not in tags and len(tags) < cfg.max_skills_per_course:
                tags.append(sid)
                how.append(kind)

        for sk in c.skills:
            old = source.skills[sk]
            for name in (old.name, *old.aliases):
                sid = resolve(name)
                if sid:
                    add(sid, "own")
                    break
        for kind, text in (("title", c.title), ("description", c.description)):
            for sid in text_hits(text):
                add(sid, kind)
        if not tags:
            continue
        for kind in how:
            matched[kind] += 1
        prereq = []
        for sk in c.prerequisites:
            old = source.skills[sk]
            sid = resolve(old.name)
            if sid and sid not in tags and sid not in prereq:
                prereq.append(sid)
        courses[c.id] = Course(
            c.id,
            titles.take(c.title, c.id),
            c.description,
            tuple(tags),
            tuple(prereq),
            c.level,
            c.hours,
            c.provider,
            -1,
        )
    retagged = len(courses)
    taught = {s for c in courses.values() for s in c.skills}
    required: dict[str, int] = {}
    for j in jobs.values():
        for s in j.skills:
            required[s] = min(required.get(s, 99), j.level)
    generated = 0
    if cfg.generate:
        for sid in skills:
            if sid in required and sid not in taught:
                name = skills[sid].name
                raw_title = title_of(skills[sid]) if title_of else f"Foundations of {name}"
                title = titles.take(sanitise_name(raw_title, 190), sid)
                what = skills[sid].category or "skill"
                courses[f"gen-{sid}"] = Course(
                    id=f"gen-{sid}",
                    title=title,
                    description=(
                        f"Generated placeholder course (not a real course) teaching the {what} '{name}'. "
                        "Replace generated courses with real ones: careerpath data import-... --courses DIR."
                    ),
                    skills=(sid,),
                    prerequisites=(),
                    level=max(1, min(5, required[sid])),
                    hours=cfg.generated_hours,
                    provider=GENERATED_PROVIDER,
                )
                generated += 1
    report = {
        "source_courses": len(source.courses),
        "retagged_courses": retagged,
        "dropped_courses": len(source.courses) - retagged,
        "tags_by_how": matched,
        "generated_courses": generated,
        "required_skills": len(required),
    }
    return courses, report


def write_catalog_atomically(catalog: Catalog, out: str | Path, report: dict | None = None) -> Catalog:
    """Save, validate with :func:`load_catalog`, then move into ``out`` (replacing it)."""
    out = Path(out)
    with atomic_dir(out) as tmp:
        catalog.save(tmp)
        if report is not None:
            (tmp / "import_report.yaml").write_text(yaml.safe_dump(report, sort_keys=False))
        loaded = load_catalog(tmp)
    loaded.source = str(out)
    return loaded


# ---------------------------------------------------------------- the O*NET import


def _soc_prefixes(code: str) -> list[str]:
    """Ever wider SOC groups of an O*NET-SOC code: 29-1141, 29-114, 29-11, 29-1, 29, then all."""
    base = code.split(".")[0]
    return [base, base[:6], base[:5], base[:4], base[:2], ""]


def import_onet(
    path: str | Path,
    cfg: OnetImportConfig | None = None,
    courses_dir=None,
    mobility: str | Path | None = None,
) -> tuple[Catalog, dict]:
    """Read an O*NET release into a (not yet validated) :class:`Catalog` and an import report.

    With ``mobility`` (the folder of observed US mobility), transitions are p(next job | job) from
    :mod:`data_prep.mobility` instead of the Related Occupations weights (which stay for the jobs the
    survey crosswalk does not map).
    """
    cfg = cfg or OnetImportConfig()
    if cfg.tech not in ("hot", "all", "none"):
        raise SourceError(f"tech: {cfg.tech!r} is not one of hot, all, none")
    release = Release(path, "O*NET")
    mob = None
    if mobility is not None:  # a wrong folder fails before the release is read
        from data_prep.mobility import load_mobility

        mob = load_mobility(mobility)

    occ: dict[str, tuple[str, str]] = {}
    for r in onet_rows(release, "Occupation Data"):
        code = _s(r[CODE])
        if code:
            occ[code] = (clean_text(r["Title"] or ""), clean_text(r["Description"] or ""))
    if not occ:
        raise SourceError(f"{release.path}: 'Occupation Data' has no rows; nothing to import")

    # Skills and Knowledge: element -> name; job -> element -> {IM, LV}
    elements: dict[str, tuple[str, str]] = {}
    ratings: dict[str, dict[str, dict[str, float]]] = {}
    for table, prefix, category in (("Skills", "sk", "skill"), ("Knowledge", "kn", "knowledge")):
        for r in onet_rows(release, table):
            scale = _s(r["Scale ID"])
            value = _num(r["Data Value"])
            code = _s(r[CODE])
            if scale not in ("IM", "LV") or value is None or code not in occ:
                continue
            eid = f"{prefix}-{clean_text(r['Element ID'])}"
            elements.setdefault(eid, (clean_text(r["Element Name"]), category))
            ratings.setdefault(code, {}).setdefault(eid, {})[scale] = value

    zones: dict[str, int] = {}
    zone_rows = onet_rows(release, "Job Zones", required=False)
    for r in zone_rows or []:
        z = _num(r["Job Zone"])
        if z is not None and _s(r[CODE]) in occ:
            zones[_s(r[CODE])] = int(z)

    alts: dict[str, list[str]] = {}
    for r in onet_rows(release, "Alternate Titles", required=False) or []:
        alts.setdefault(_s(r[CODE]), []).append(sanitise_name(r["Alternate Title"]))

    tech_rows: dict[str, list[tuple[str, bool, bool, str]]] = {}
    for r in onet_rows(release, "Technology Skills", required=False) or []:
        code = _s(r[CODE])
        name = sanitise_name(r["Example"])
        if code in occ and name:
            tech_rows.setdefault(code, []).append(
                (
                    name,
                    _flag(r["Hot Technology"]),
                    _flag(r["In Demand"]),
                    clean_text(r["Commodity Title"] or ""),
                )
            )

    related: list[tuple[str, str, str, int]] = []
    rel_rows = onet_rows(release, "Related Occupations", required=False)
    for r in rel_rows or []:
        a, b = _s(r[CODE]), _s(r["Related O*NET-SOC Code"])
        idx = _num(r["Index"])
        if a in occ and b in occ and a != b:
            related.append((a, b, _s(r["Relatedness Tier"]), int(idx or 1)))

    # ---- skills
    skills: dict[str, Skill] = {}
    names = UniqueNames()
    for eid, (name, category) in elements.items():
        # "Mathematics" is both a Skills and a Knowledge element: the second becomes "Mathematics Knowledge"
        clean = sanitise_name(name)
        label = names.take(clean if clean not in names else f"{clean} {category.title()}", eid)
        skills[eid] = Skill(eid, label, (), f"onet-{category}")

    # ---- job -> element importances (with the SOC-group fallback for unrated occupations)
    def importance(r: dict[str, float]) -> float:
        im = (r.get("IM", 1.0) - 1.0) / 4.0
        lv = r.get("LV", 0.0) / 7.0
        return max(0.0, min(1.0, (1 - cfg.level_weight) * im + cfg.level_weight * lv))

    group_cache: dict[str, dict[str, dict[str, float]]] = {}

    def group_mean(code: str) -> tuple[dict[str, dict[str, float]], str]:
        for prefix in _soc_prefixes(code):
            if prefix in group_cache:
                return group_cache[prefix], prefix
            peers = [c for c in ratings if c.startswith(prefix)]
            if peers:
                out: dict[str, dict[str, float]] = {}
                for eid in {e for c in peers for e in ratings[c]}:
                    out[eid] = {
                        s: statistics.fmean(ratings[c][eid][s] for c in peers if s in ratings[c].get(eid, {}))
                        for s in ("IM", "LV")
                        if any(s in ratings[c].get(eid, {}) for c in peers)
                    }
                group_cache[prefix] = out
                return out, prefix
        return {}, ""

    # elements most rated occupations need at least min_importance: generic, weighted down
    rated_n = max(len(ratings), 1)
    share = {
        e: sum(1 for c in ratings if ratings[c].get(e, {}).get("IM", 0.0) >= cfg.min_importance) / rated_n
        for e in elements
    }
    generic = {e for e, v in share.items() if v > cfg.generic_share}

    def weight(e: str, r: dict[str, float]) -> float:
        return importance(r) * (cfg.generic_weight if e in generic else 1.0)

    fallback: dict[str, str] = {}
    job_elements: dict[str, dict[str, float]] = {}
    for code in occ:
        rated = ratings.get(code)
        if not rated:
            rated, prefix = group_mean(code)
            if prefix:
                fallback[code] = prefix
        passing = {
            e: weight(e, r)
            for e, r in rated.items()
            if r.get("IM", 0.0) >= cfg.min_importance
            and r.get("LV", 0.0) >= cfg.min_level
            and (e not in generic or cfg.generic_weight > 0)
        }
        ranked = sorted(passing.items(), key=lambda x: (-x[1], x[0]))[: cfg.max_skills_per_job]
        if len(ranked) < cfg.min_skills_per_job:
            extra = sorted(
                ((e, weight(e, r)) for e, r in rated.items() if e not in passing),
                key=lambda x: (-rated[x[0]].get("IM", 0.0), x[0]),
            )
            ranked += extra[: cfg.min_skills_per_job - len(ranked)]
        job_elements[code] = {e: round(w, 4) for e, w in ranked}

    # ---- technology skills
    tech_ids: dict[str, str] = {}
    tech_hot: dict[str, bool] = {}
    tech_jobs: dict[str, list[bool]] = {}
    tech_commodity: dict[str, str] = {}
    tech_name: dict[str, str] = {}
    job_tech: dict[str, dict[str, float]] = {}
    job_demand: dict[str, float] = {}
    tech_freq: dict[str, int] = {}  # occupations listing each example: common tools before niche ones
    for rows in tech_rows.values():
        for key in {compact_key(r[0]) for r in rows}:
            tech_freq[key] = tech_freq.get(key, 0) + 1
    office = {clean_text(c).lower() for c in cfg.office_commodities}
    tech_total = max(len(tech_rows), 1)
    dropped_common: dict[str, int] = {}  # example -> occupations it was dropped from
    office_jobs: dict[str, list[str]] = {}  # occupation -> office examples collapsed
    if cfg.tech != "none":
        for code, rows in tech_rows.items():
            hot_share = sum(h for _, h, _, _ in rows) / len(rows)
            dem_share = sum(d for _, _, d, _ in rows) / len(rows)
            job_demand[code] = round((hot_share + dem_share) / 2, 4)
            keep = [r for r in rows if cfg.tech == "all" or r[1] or r[2]]
            keep = sorted(
                set(keep), key=lambda r: (not r[2], not r[1], -tech_freq[compact_key(r[0])], r[0].lower())
            )
            chosen: dict[str, float] = {}
            collapsed = [name for name, _, _, commodity in keep if commodity.lower() in office]
            if collapsed:
                office_jobs[code] = collapsed
            for name, hot, dem, commodity in keep:
                key = compact_key(name)
                if commodity.lower() in office:
                    continue
                if tech_freq[key] / tech_total > cfg.max_tech_share:
                    dropped_common[name] = dropped_common.get(name, 0) + 1
                    continue
                if key not in tech_ids:
                    tid = f"tech-{slug(name)}"
                    while tid in tech_hot:
                        tid += "-x"
                    tech_ids[key] = tid
                    tech_hot[tid] = False
                    tech_jobs[tid] = []
                    tech_commodity[tid] = commodity
                    tech_name[tid] = name
                tid = tech_ids[key]
                if tid in chosen:
                    continue
                if len(chosen) >= cfg.max_tech_per_job:
                    break
                tech_hot[tid] = tech_hot[tid] or hot
                tech_jobs[tid].append(dem)
                chosen[tid] = round(
                    min(1.0, cfg.tech_importance + cfg.tech_hot_bonus * hot + cfg.tech_in_demand_bonus * dem),
                    4,
                )
            job_tech[code] = chosen
        for tid in tech_ids.values():
            if not tech_jobs[tid]:
                continue
            name = tech_name[tid]
            share = sum(tech_jobs[tid]) / len(tech_jobs[tid])
            skills[tid] = Skill(
                tid,
                names.take(name, tid) if name not in names else names.take(f"{name} Software", tid),
                (),
                f"onet-technology: {sanitise_name(tech_commodity[tid])}",
                round(0.5 * tech_hot[tid] + 0.5 * share, 4),
            )

    if office_jobs and cfg.office_weight > 0:
        skills[OFFICE_ID] = Skill(
            OFFICE_ID,
            names.take("Office software", OFFICE_ID),
            ("Microsoft Office", "office suite"),
            "onet-technology: general office software",
            0.0,
        )
        for code in office_jobs:
            job_tech.setdefault(code, {})[OFFICE_ID] = round(cfg.office_weight, 4)

    renamed = keep_apart(skills)

    # ---- jobs
    titles = UniqueNames()
    zone_median: dict[str, int] = {}
    jobs: dict[str, Job] = {}
    for code, (title, desc) in occ.items():
        level = zones.get(code)
        if level is None:
            for prefix in _soc_prefixes(code)[1:]:
                peers = [z for c, z in zones.items() if c.startswith(prefix)]
                if peers:
                    level = int(statistics.median_low(peers))
                    break
            zone_median[code] = level or 3
        req = dict(job_elements.get(code, {}))
        req.update({t: w for t, w in job_tech.get(code, {}).items() if t in skills})
        if not req:
            continue
        clean_title = sanitise_name(title)
        job_title = titles.take(clean_title, code)
        seen_alt = {compact_key(job_title)}
        alt_list = []
        for a in sorted(set(alts.get(code, [])), key=lambda x: (len(x), x)):
            if a and compact_key(a) not in seen_alt and len(alt_list) < cfg.max_alt_titles:
                seen_alt.add(compact_key(a))
                alt_list.append(a)
        if job_title != clean_title:
            alt_list.insert(0, clean_title)
        major = code[:2]
        jobs[code] = Job(
            id=code,
            title=job_title,
            alt_titles=tuple(alt_list),
            description=desc,
            family=SOC_MAJOR_GROUPS.get(major, f"SOC major group {major}"),
            level=int(level or zone_median.get(code, 3)),
            skills=req,
            demand=job_demand.get(code, 0.0),
        )

    # ---- transitions
    transitions = []
    per_job: dict[str, int] = {}
    for a, b, tier, idx in sorted(related, key=lambda x: (x[0], x[3], x[1])):
        if a not in jobs or b not in jobs:
            continue
        if cfg.max_related_per_job and per_job.get(a, 0) >= cfg.max_related_per_job:
            continue
        per_job[a] = per_job.get(a, 0) + 1
        w = cfg.tier_weights.get(tier, min(cfg.tier_weights.values(), default=0.3))
        transitions.append(Transition(a, b, round(max(0.01, w * (1 - cfg.index_decay * (idx - 1))), 4)))

    mobility_report = None
    if mob is not None:
        transitions, mobility_report = _mobility_transitions(path, mob, jobs, transitions, cfg)

    courses, course_report = attach_courses(skills, jobs, cfg.courses, courses_dir)
    catalog = Catalog(skills, courses, jobs, transitions, [], str(path))  # validated when written
    report = {
        "source": str(path),
        "occupations": len(occ),
        "jobs": len(jobs),
        "jobs_without_skills_dropped": sorted(set(occ) - set(jobs)),
        "jobs_with_group_fallback_ratings": len(fallback),
        "jobs_without_job_zone": len(zone_median),
        "skills": sum(1 for s in skills.values() if not s.id.startswith("tech-")),
        "technology_skills": sum(1 for s in skills.values() if s.id.startswith("tech-")),
        "transitions": len(transitions),
        "skills_renamed_to_keep_apart": [f"{a} -> {b}" for a, b in renamed],
        "skills_per_job": _per_job_counts(jobs),
        "generic_elements_weighted_down": sorted(skills[e].name for e in generic if e in skills),
        "technology_dropped_as_common": {
            k: v for k, v in sorted(dropped_common.items(), key=lambda x: (-x[1], x[0]))[:30]
        },
        "technology_examples_dropped_as_common": len(dropped_common),
        "office_software": {
            "jobs": len(office_jobs) if cfg.office_weight > 0 else 0,
            "weight": cfg.office_weight,
            "examples_collapsed": sorted({n for v in office_jobs.values() for n in v})[:30],
        },
        "courses": course_report,
        "missing_optional_tables": [
            t
            for t in ("Job Zones", "Alternate Titles", "Technology Skills", "Related Occupations")
            if release.find(t, ("xlsx", "txt")) is None
        ],
        "config": _plain(cfg),
    }
    if mobility_report is not None:
        report["mobility"] = mobility_report
    return catalog, report


def _mobility_transitions(path, mob, jobs: dict[str, Job], related: list[Transition], cfg):
    """Transitions from the mobility model; Related Occupations kept for jobs the crosswalk leaves out."""
    from data_prep import mobility as mb

    embeddings = cfg.mobility_embeddings
    if embeddings:
        from careerpath.embeddings import EmbeddingsUnavailable, model_dir

        try:
            model_dir()
        except EmbeddingsUnavailable:
            embeddings = False
    data = mb.prepare(mob, mb.read_onet_tables(path), embeddings=embeddings)
    fitted = mb.fit_transitions(data, cfg.mobility_l2)
    moves, report = mb.catalog_transitions(fitted, jobs, cfg.mobility_max_per_job)
    unmapped = {a for a in jobs if mob.group_of(a) is None}
    kept = [
        Transition(t.from_job, t.to_job, t.weight, "O*NET Related Occupations")
        for t in related
        if t.from_job in unmapped
    ]
    report.update({"source": mob.path, "embeddings": embeddings, "related_kept_for_unmapped_jobs": len(kept)})
    return moves + kept, report


def _per_job_counts(jobs: dict[str, Job]) -> dict:
    """How many skills an imported occupation requires (Skills/Knowledge elements, technology)."""
    elems = [sum(not s.startswith("tech-") for s in j.skills) for j in jobs.values()]
    tech = [sum(s.startswith("tech-") and s != OFFICE_ID for s in j.skills) for j in jobs.values()]
    total = [len(j.skills) for j in jobs.values()]

    def stats(xs: list[int]) -> dict:
        return (
            {
                "mean": round(statistics.fmean(xs), 2),
                "median": statistics.median(xs),
                "min": min(xs),
                "max": max(xs),
            }
            if xs
            else {}
        )

    return {"all": stats(total), "skills_knowledge": stats(elems), "technology": stats(tech)}


def _plain(obj):
    if hasattr(obj, "__dataclass_fields__"):
        return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def build_parser() -> argparse.ArgumentParser:
    from careerpath.cli_common import ArgumentParser, HelpFormatter, add_json_flag

    p = ArgumentParser(
        prog="careerpath data import-onet",
        description="Build a careerpath catalog from an O*NET release. Any key of the import config is a "
        "flag too: --min-importance 3.0, --courses.generate false.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("path", help="O*NET release: the Excel (*.xlsx) or text (*.txt) folder, or its zip")
    p.add_argument("--out", required=True, help="catalog folder to write (replaced atomically)")
    p.add_argument(
        "--config", default=None, help="import thresholds YAML (default: configs/data/onet_import.yaml)"
    )
    p.add_argument(
        "--courses", default=None, help="course catalog folder to re-tag (default: the bundled one)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="deprecated: write --key value (e.g. --tech all, --courses.generate false) for any config key",
    )
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
    from careerpath.cli_common import require_path, take_overrides, yaml_sets

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
        from careerpath.cli_common import print_json

        print_json({"out": str(args.out), "catalog": s, "report": report})
        return 0
    if "mobility" in report:
        from data_prep.mobility import ATTRIBUTION

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


if __name__ == "__main__":
    sys.exit(main())
