"""Courses for an imported catalog (O*NET or ESCO): the bundled or given courses re-tagged with
the imported skills, a generated placeholder course for every required skill none teaches, and
the catalog written atomically after validation."""

from __future__ import annotations

from pathlib import Path

import yaml
from rapidfuzz import fuzz, process

from careerpath.core.atomic import atomic_dir
from careerpath.core.catalog import (
    BUNDLED_DIR,
    Catalog,
    Course,
    Job,
    Skill,
    load_catalog,
)
from careerpath.core.cleaning import NameIndex, compact_key, name_key
from careerpath.importers.onet_config import CourseConfig
from careerpath.importers.onet_names import UniqueNames, sanitise_name

GENERATED_PROVIDER = "careerpath-generated"


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
    resolve = _skill_resolver(skills, cfg)
    text_hits = _text_matcher(skills, cfg)
    titles = UniqueNames()
    courses, matched = _retag_courses(source, resolve, text_hits, titles, cfg)
    retagged = len(courses)
    required, generated = _generate_courses(courses, skills, jobs, titles, cfg, title_of)
    report = {
        "source_courses": len(source.courses),
        "retagged_courses": retagged,
        "dropped_courses": len(source.courses) - retagged,
        "tags_by_how": matched,
        "generated_courses": generated,
        "required_skills": len(required),
    }
    return courses, report


def _skill_resolver(skills: dict[str, Skill], cfg: CourseConfig):
    """name -> imported skill id (or None): a :class:`NameIndex` of the imported skills (exact,
    alias), then rapidfuzz at ``fuzzy_threshold``; cached per name."""
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

    return resolve


def _text_matcher(skills: dict[str, Skill], cfg: CourseConfig):
    """text -> the imported skills whose names appear in it as whole words, in text order."""
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

    return text_hits


def _retag_courses(
    source: Catalog, resolve, text_hits, titles: UniqueNames, cfg: CourseConfig
) -> tuple[dict[str, Course], dict[str, int]]:
    """The source's courses tagged with imported skills (own skills, then title, then description;
    courses matching none left out), and how many tags each way found."""
    courses: dict[str, Course] = {}
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
    return courses, matched


def _generate_courses(
    courses: dict[str, Course],
    skills: dict[str, Skill],
    jobs: dict[str, Job],
    titles: UniqueNames,
    cfg: CourseConfig,
    title_of=None,
) -> tuple[dict[str, int], int]:
    """Add a generated placeholder course to ``courses`` for every required skill none teaches
    (with ``cfg.generate``); returns the required skills (-> the lowest level of a job requiring
    them) and how many courses were generated."""
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
    return required, generated


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
