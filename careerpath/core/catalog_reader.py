"""Reading a catalog folder: CSV / JSON / JSONL rows, field parsing and validation.

:func:`load_catalog` reads ``skills.*``, ``courses.*``, ``jobs.*`` and an optional
``transitions.*``, standardises names through :mod:`careerpath.core.cleaning`, resolves skill references,
merges near-duplicates and collects every problem (file, row, field, what to do) into one
:class:`~careerpath.core.catalog_model.CatalogError`.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from careerpath.core.catalog_model import (
    Catalog,
    CatalogError,
    Course,
    Job,
    Skill,
    Transition,
)
from careerpath.core.cleaning import KNOWN_ALIASES, Merge, NameIndex, clean_text, find_near_duplicates

BUNDLED_DIR = Path(__file__).parent / "catalog_data"
TABLES = ("skills", "courses", "jobs", "transitions")
REQUIRED_COLUMNS = {
    "skills": ("id", "name"),
    "courses": ("id", "title", "skills", "level", "hours"),
    "jobs": ("id", "title", "family", "level", "skills"),
    "transitions": ("from_job", "to_job"),
}
FORBIDDEN_IN_NAMES = set("|>,;\\")
MAX_FIELD_CHARS = 5000
# Merging two rows of the skills table is a stronger act than resolving a reference, so it needs a
# closer match ("E-Learning Development" vs "Learning and Development" scores 90 and must not merge).
ROW_MERGE_MIN = 95.0


# ---------------------------------------------------------------- reading raw rows


def _find_table(folder: Path, name: str) -> Path | None:
    for ext in ("csv", "jsonl", "json"):
        path = folder / f"{name}.{ext}"
        if path.exists():
            return path
    return None


def read_rows(path: Path) -> list[tuple[int, dict]]:
    """Rows of a CSV, JSON (a list of objects) or JSONL file as ``(line_number, row)`` pairs."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise CatalogError(
            [f"{path.name}: not valid UTF-8 ({e.reason} at byte {e.start}); save it as UTF-8"]
        ) from None
    if path.suffix == ".csv":
        try:
            # newline="": only \r and \n end a record (str.splitlines() also splits on \x1c-\x1e,
            # \x85 and U+2028/9, which may sit inside a field)
            reader = csv.DictReader(io.StringIO(text, newline=""))
            rows = [(i + 2, dict(r)) for i, r in enumerate(reader)]
        except csv.Error as e:
            raise CatalogError([f"{path.name}: unreadable CSV ({e}); check quoting"]) from None
        return rows
    if path.suffix == ".jsonl":
        rows = []
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise CatalogError(
                    [f"{path.name} line {i}: invalid JSON ({e.msg}); one object per line"]
                ) from None
            except (ValueError, RecursionError) as e:  # a number too long for Python, deep nesting
                raise CatalogError([f"{path.name} line {i}: {_json_limit(e)}"]) from None
            if not isinstance(obj, dict):
                raise CatalogError(
                    [f"{path.name} line {i}: expected a JSON object, got {type(obj).__name__}"]
                )
            rows.append((i, obj))
        return rows
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CatalogError([f"{path.name} line {e.lineno}: invalid JSON ({e.msg})"]) from None
    except (ValueError, RecursionError) as e:  # a number too long for Python, deep nesting
        raise CatalogError([f"{path.name}: {_json_limit(e)}"]) from None
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
        data = next(iter(data.values()))
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise CatalogError([f"{path.name}: expected a JSON list of objects"])
    return [(i + 1, r) for i, r in enumerate(data)]


def _json_limit(err: Exception) -> str:
    if isinstance(err, RecursionError):
        return "invalid JSON: nested too deeply; a table is a list of flat objects"
    return "invalid JSON: a number is too long (more than 4300 digits); check the values"


# ---------------------------------------------------------------- field parsing helpers


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, file: str, row: int, fieldname: str, msg: str) -> None:
        self.items.append(f"{file} row {row}, field '{fieldname}': {msg}")


def _as_list(value, sep: str = ";") -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [clean_text(v) for v in value if clean_text(v)]
    return [p for p in (clean_text(x) for x in str(value).split(sep)) if p]


def _text(row: dict, key: str, problems: _Problems, file: str, line: int, required: bool = False) -> str:
    value = row.get(key)
    if value is not None and not isinstance(value, (str, int, float)):
        problems.add(file, line, key, f"expected text, got {type(value).__name__}")
        return ""
    text = clean_text(value) if value is not None else ""
    if len(text) > MAX_FIELD_CHARS:
        problems.add(file, line, key, f"longer than {MAX_FIELD_CHARS} characters; shorten it")
        text = text[:MAX_FIELD_CHARS]
    if required and not text:
        problems.add(file, line, key, "is empty; every row needs a value here")
    return text


def _name(row, key, problems, file, line) -> str:
    text = _text(row, key, problems, file, line, required=True)
    bad = FORBIDDEN_IN_NAMES & set(text)
    if bad:
        problems.add(
            file,
            line,
            key,
            f"{text!r} contains {''.join(sorted(bad))!r}; these separate fields in the text format",
        )
    return text


def _number(row, key, problems, file, line, lo, hi, integer=False, default=None):
    raw = row.get(key)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if default is not None:
            return default
        problems.add(file, line, key, "is empty; give a number")
        return lo
    try:
        value = float(raw)
    except (TypeError, ValueError):
        problems.add(file, line, key, f"{_shown(raw)} is not a number")
        return lo
    except OverflowError:  # an integer beyond float's range
        value = math.inf
    if math.isnan(value) or not lo <= value <= hi or (integer and not value.is_integer()):
        kind = "an integer" if integer else "a number"
        problems.add(file, line, key, f"{_shown(raw)} must be {kind} between {lo} and {hi}")
        return lo
    return int(value) if integer else value


def _shown(raw) -> str:
    """``repr(raw)`` for a message, cut to a readable length."""
    text = repr(raw)
    return text if len(text) <= 80 else text[:77] + "..."


def _skill_importances(value) -> list[tuple[str, str | float]]:
    """``"python:0.9;sql:0.8"``, ``{"python": 0.9}`` or ``[{"skill": "python", "importance": 0.9}]``."""
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, dict):
                out.append((item.get("skill") or item.get("id") or "", item.get("importance", 1.0)))
            else:
                out.extend(_skill_importances(str(item)))
        return out
    out = []
    for part in _as_list(value):
        name, sep, imp = part.rpartition(":")
        out.append((name, imp) if sep else (part, 1.0))
    return out


# ---------------------------------------------------------------- building the catalog


TAG_HINT = (
    "tag an untagged catalog with `careerpath data tag --catalog DIR --out review.csv`, review the "
    "accept column, then `careerpath data apply-tags review.csv --catalog DIR`"
)


def load_catalog(
    folder: str | Path | None = None, fuzzy_threshold: float = 90.0, allow_untagged: bool = False
) -> Catalog:
    """Read, standardise and validate a catalog folder (the bundled one when ``folder`` is None).

    ``allow_untagged`` (``data validate``, ``data tag``, ``apply-tags``): courses and jobs may have no
    skills yet, and the ``skills`` column may be missing; :attr:`Catalog.untagged` lists them."""
    folder = Path(folder) if folder else BUNDLED_DIR
    if not folder.is_dir():
        raise CatalogError(
            [f"{folder}: not a folder; pass the folder holding skills.csv, courses.csv and jobs.csv"]
        )
    problems = _Problems()
    raw = {}
    for table in TABLES:
        path = _find_table(folder, table)
        if path is None:
            if table != "transitions":
                problems.items.append(
                    f"{folder}/{table}.csv (or .json/.jsonl): missing; a catalog needs {table}"
                )
            continue
        rows = read_rows(path)
        if not rows and table != "transitions":
            problems.items.append(f"{path.name}: has no rows; a catalog needs {table}")
            continue
        if rows:
            required = [c for c in REQUIRED_COLUMNS[table] if not (allow_untagged and c == "skills")]
            missing = [c for c in required if c not in rows[0][1]]
            if missing:
                hint = f" (no skill tags yet? {TAG_HINT})" if "skills" in missing else ""
                problems.items.append(
                    f"{path.name}: missing column(s) {', '.join(missing)}; add them to the header{hint}"
                )
                continue
        raw[table] = (path.name, rows)
    if problems.items:
        raise CatalogError(problems.items)
    merges: list[Merge] = []
    skills = _build_skills(*raw["skills"], problems, merges, fuzzy_threshold)
    index = NameIndex("skill", fuzzy_threshold=fuzzy_threshold)
    for s in skills.values():
        index.add(s.id, s.name, s.aliases)
    index.add_known_aliases(KNOWN_ALIASES)
    for old, new in _merged_ids(merges, skills):
        index.add_alias(old, new)
    courses = _build_courses(*raw["courses"], problems, index, merges, allow_untagged)
    jobs = _build_jobs(*raw["jobs"], problems, index, merges, allow_untagged)
    transitions = _build_transitions(*raw["transitions"], problems, jobs) if "transitions" in raw else []
    if problems.items:
        untagged = sum(
            p.endswith(("teach at least one skill", "require at least one skill")) for p in problems.items
        )
        if untagged:  # first, so that it is shown however many rows follow
            problems.items.insert(0, f"{untagged} course(s)/job(s) have no skills: {TAG_HINT}")
        raise CatalogError(problems.items)
    unique = list({(m.kind, m.raw, m.canonical): m for m in merges}.values())
    return Catalog(skills, courses, jobs, transitions, unique, source=str(folder))


def _merged_ids(merges, skills):
    return [(m.raw, m.canonical) for m in merges if m.kind == "skill-id" and m.canonical in skills]


def _check_id(row, problems, file, line, seen: set) -> str:
    item_id = _text(row, "id", problems, file, line, required=True)
    if item_id in seen:
        problems.add(file, line, "id", f"duplicate id {item_id!r}; ids must be unique")
    seen.add(item_id)
    return item_id


def _build_skills(file, rows, problems, merges, threshold) -> dict[str, Skill]:
    skills: dict[str, Skill] = {}
    seen: set = set()
    for line, row in rows:
        sid = _check_id(row, problems, file, line, seen)
        name = _name(row, "name", problems, file, line)
        aliases = tuple(a for a in _as_list(row.get("aliases")) if a != name)
        if sid and name and sid not in skills:
            skills[sid] = Skill(
                sid,
                name,
                aliases,
                _text(row, "category", problems, file, line),
                _number(row, "demand", problems, file, line, 0.0, 1.0, default=0.0),
            )
    # near-duplicate skill rows ("Javascript" next to "JavaScript") merge into the first one
    for keep, drop, score in find_near_duplicates(
        {k: v.name for k, v in skills.items()}, max(threshold, ROW_MERGE_MIN)
    ):
        kept = skills[keep]
        gone = skills.pop(drop)
        skills[keep] = Skill(
            kept.id,
            kept.name,
            tuple(dict.fromkeys(kept.aliases + (gone.name,) + gone.aliases)),
            kept.category,
            max(kept.demand, gone.demand),
        )
        merges.append(Merge("skill", gone.name, kept.name, "exact" if score == 100 else f"fuzzy:{score:.0f}"))
        merges.append(Merge("skill-id", gone.id, kept.id, "merged row"))
    return skills


def _resolve_skills(values, index, problems, file, line, fieldname, merges) -> list[str]:
    out = []
    for raw in values:
        sid, how = index.resolve(raw)
        if sid is None:
            hint = index.suggest(raw)
            did = f" (did you mean {', '.join(repr(h) for h in hint)}?)" if hint else ""
            problems.add(
                file, line, fieldname, f"unknown skill {raw!r}{did}; add it to skills or fix the name"
            )
            continue
        if how != "exact" or raw not in (sid, index.names[sid]):
            merges.append(Merge("skill", raw, index.names[sid], how))
        if sid not in out:
            out.append(sid)
    return out


def _unique_title(row, problems, file, line, titles: dict[str, int]) -> str:
    title = _name(row, "title", problems, file, line)
    if title.lower() in titles:
        msg = f"duplicate title {title!r} (also row {titles[title.lower()]}); titles must be unique"
        problems.add(file, line, "title", msg)
    titles.setdefault(title.lower(), line)
    return title


def _build_courses(file, rows, problems, index, merges, allow_untagged=False) -> dict[str, Course]:
    courses: dict[str, Course] = {}
    seen, titles = set(), {}
    for line, row in rows:
        cid = _check_id(row, problems, file, line, seen)
        title = _unique_title(row, problems, file, line, titles)
        before = len(problems.items)  # (scanning every problem here was quadratic in bad rows)
        skills = _resolve_skills(_as_list(row.get("skills")), index, problems, file, line, "skills", merges)
        if not skills and len(problems.items) == before and not allow_untagged:
            problems.add(file, line, "skills", "a course must teach at least one skill")
        prereq = _resolve_skills(
            _as_list(row.get("prerequisites")), index, problems, file, line, "prerequisites", merges
        )
        course = Course(
            id=cid,
            title=title,
            description=_text(row, "description", problems, file, line),
            skills=tuple(skills),
            prerequisites=tuple(p for p in prereq if p not in skills),
            level=_number(row, "level", problems, file, line, 1, 5, integer=True),
            hours=_number(row, "hours", problems, file, line, 0.5, 2000),
            provider=_text(row, "provider", problems, file, line) or "unknown",
            cluster=_number(row, "cluster", problems, file, line, -1, 100000, integer=True, default=-1),
        )
        courses.setdefault(cid, course)
    return courses


def _build_jobs(file, rows, problems, index, merges, allow_untagged=False) -> dict[str, Job]:
    jobs: dict[str, Job] = {}
    seen, titles = set(), {}
    for line, row in rows:
        jid = _check_id(row, problems, file, line, seen)
        title = _unique_title(row, problems, file, line, titles)
        required: dict[str, float] = {}
        for raw, imp in _skill_importances(row.get("skills")):
            sid = _resolve_skills([raw], index, problems, file, line, "skills", merges)
            weight = _number({"importance": imp}, "importance", problems, file, line, 0.0, 1.0)
            if sid:
                required[sid[0]] = max(required.get(sid[0], 0.0), weight)
        if not required and not allow_untagged:
            problems.add(file, line, "skills", "a job must require at least one skill")
        alts = tuple(a for a in _as_list(row.get("alt_titles")) if a.lower() != title.lower())
        for alt in alts:
            if FORBIDDEN_IN_NAMES & set(alt):
                problems.add(file, line, "alt_titles", f"{alt!r} contains a separator character")
        job = Job(
            id=jid,
            title=title,
            alt_titles=alts,
            description=_text(row, "description", problems, file, line),
            family=_text(row, "family", problems, file, line, required=True),
            level=_number(row, "level", problems, file, line, 1, 10, integer=True),
            skills=required,
            demand=_number(row, "demand", problems, file, line, 0.0, 1.0, default=0.0),
        )
        jobs.setdefault(jid, job)
    return jobs


def _build_transitions(file, rows, problems, jobs) -> list[Transition]:
    out = []
    for line, row in rows:
        a = _text(row, "from_job", problems, file, line, required=True)
        b = _text(row, "to_job", problems, file, line, required=True)
        for key, jid in (("from_job", a), ("to_job", b)):
            if jid and jid not in jobs:
                problems.add(file, line, key, f"unknown job {jid!r}; use a job id from jobs")
        weight = _number(row, "weight", problems, file, line, 0.0, 1000.0, default=1.0)
        why = _text(row, "why", problems, file, line)
        if a in jobs and b in jobs and a != b:
            out.append(Transition(a, b, float(weight), why))
    return out
