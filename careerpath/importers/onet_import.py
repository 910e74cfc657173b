"""The O*NET import in named steps (:func:`import_onet`): read the tables, make the skills and
each job's weights, the jobs, the transitions (Related Occupations, or observed mobility), attach
courses, and report what was kept, weighted down, dropped and collapsed."""

from __future__ import annotations

import statistics
from dataclasses import fields
from pathlib import Path

from careerpath.core.catalog import (
    Catalog,
    Job,
    Skill,
    Transition,
)
from careerpath.core.cleaning import compact_key
from careerpath.importers.onet_config import OnetImportConfig
from careerpath.importers.onet_courses import attach_courses
from careerpath.importers.onet_names import UniqueNames, keep_apart, sanitise_name
from careerpath.importers.onet_release import (
    OnetTables,
    Release,
    SourceError,
    read_tables,
)
from careerpath.importers.onet_skills import (
    OFFICE_ID,
    _element_skills,
    _job_elements,
    _soc_prefixes,
    _technology,
)

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
OPTIONAL_TABLES = ("Job Zones", "Alternate Titles", "Technology Skills", "Related Occupations")


def import_onet(
    path: str | Path,
    cfg: OnetImportConfig | None = None,
    courses_dir=None,
    mobility: str | Path | None = None,
) -> tuple[Catalog, dict]:
    """Read an O*NET release into a (not yet validated) :class:`Catalog` and an import report.

    With ``mobility`` (the folder of observed US mobility), transitions are p(next job | job) from
    :mod:`careerpath.importers.mobility` instead of the Related Occupations weights (which stay for the jobs the
    survey crosswalk does not map).
    """
    cfg = cfg or OnetImportConfig()
    if cfg.tech not in ("hot", "all", "none"):
        raise SourceError(f"tech: {cfg.tech!r} is not one of hot, all, none")
    release = Release(path, "O*NET")
    mob = None
    if mobility is not None:  # a wrong folder fails before the release is read
        from careerpath.importers.mobility import (
            load_mobility,  # (careerpath.importers.mobility imports careerpath.importers.onet)
        )

        mob = load_mobility(mobility)
    tables = read_tables(release)
    names = UniqueNames()
    skills = _element_skills(tables.elements, names)
    job_elements, fallback, generic = _job_elements(tables, cfg)
    tech = _technology(tables.tech_rows, cfg, skills, names)
    renamed = keep_apart(skills)
    jobs, zone_median = _jobs(tables, job_elements, tech["job_tech"], tech["job_demand"], skills, cfg)
    transitions = _related_transitions(tables.related, jobs, cfg)
    mobility_report = None
    if mob is not None:
        transitions, mobility_report = _mobility_transitions(path, mob, jobs, transitions, cfg)
    courses, course_report = attach_courses(skills, jobs, cfg.courses, courses_dir)
    catalog = Catalog(skills, courses, jobs, transitions, [], str(path))  # validated when written
    report = {
        "source": str(path),
        "occupations": len(tables.occ),
        "jobs": len(jobs),
        "jobs_without_skills_dropped": sorted(set(tables.occ) - set(jobs)),
        "jobs_with_group_fallback_ratings": len(fallback),
        "jobs_without_job_zone": len(zone_median),
        "skills": sum(1 for s in skills.values() if not s.id.startswith("tech-")),
        "technology_skills": sum(1 for s in skills.values() if s.id.startswith("tech-")),
        "transitions": len(transitions),
        "skills_renamed_to_keep_apart": [f"{a} -> {b}" for a, b in renamed],
        "skills_per_job": _per_job_counts(jobs),
        "generic_elements_weighted_down": sorted(skills[e].name for e in generic if e in skills),
        "technology_dropped_as_common": {
            k: v for k, v in sorted(tech["dropped_common"].items(), key=lambda x: (-x[1], x[0]))[:30]
        },
        "technology_examples_dropped_as_common": len(tech["dropped_common"]),
        "office_software": {
            "jobs": len(tech["office_jobs"]) if cfg.office_weight > 0 else 0,
            "weight": cfg.office_weight,
            "examples_collapsed": sorted({n for v in tech["office_jobs"].values() for n in v})[:30],
        },
        "courses": course_report,
        "missing_optional_tables": [t for t in OPTIONAL_TABLES if release.find(t, ("xlsx", "txt")) is None],
        "config": _plain(cfg),
    }
    if mobility_report is not None:
        report["mobility"] = mobility_report
    return catalog, report


# ---------------------------------------------------------------- jobs and transitions


def _jobs(
    tables: OnetTables,
    job_elements: dict[str, dict[str, float]],
    job_tech: dict[str, dict[str, float]],
    job_demand: dict[str, float],
    skills: dict[str, Skill],
    cfg: OnetImportConfig,
) -> tuple[dict[str, Job], dict[str, int]]:
    """The jobs (occupations requiring at least one kept skill), and the zone taken from the SOC
    group of each occupation without a Job Zone."""
    zones, alts = tables.zones, tables.alts
    titles = UniqueNames()
    zone_median: dict[str, int] = {}
    jobs: dict[str, Job] = {}
    for code, (title, desc) in tables.occ.items():
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
    return jobs, zone_median


def _related_transitions(related: list, jobs: dict[str, Job], cfg: OnetImportConfig) -> list[Transition]:
    """Related Occupations as transitions: tier weight x (1 - index_decay x (Index - 1))."""
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
    return transitions


def _mobility_transitions(path, mob, jobs: dict[str, Job], related: list[Transition], cfg):
    """Transitions from the mobility model; Related Occupations kept for jobs the crosswalk leaves out."""
    from careerpath.importers import mobility as mb

    embeddings = cfg.mobility_embeddings
    if embeddings:
        from careerpath.core.embeddings import EmbeddingsUnavailable, model_dir

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
