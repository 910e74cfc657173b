"""The catalog's records: skills, courses, jobs, transitions and the :class:`Catalog` holding them.

Also :class:`CatalogError`, the error every catalog problem raises. Reading and validating a folder
is :mod:`careerpath.core.catalog_reader`; :meth:`Catalog.save` writes one back as CSV.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path

from careerpath.core.cleaning import KNOWN_ALIASES, Merge, NameIndex


class CatalogError(ValueError):
    """An invalid catalog; ``problems`` lists every problem found, each naming file, row and field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        if len(problems) == 1:  # one problem, one line (the CLI's error convention)
            super().__init__(f"invalid catalog: {problems[0]}")
            return
        shown = "\n  - ".join(problems[:30])
        more = f"\n  ... and {len(problems) - 30} more" if len(problems) > 30 else ""
        super().__init__(f"invalid catalog ({len(problems)} problem(s)):\n  - {shown}{more}")


@dataclass(frozen=True)
class Skill:
    id: str
    name: str
    aliases: tuple[str, ...] = ()
    category: str = ""
    demand: float = 0.0  # market-demand weight in [0, 1] (e.g. O*NET Hot Technology / In Demand)


@dataclass(frozen=True)
class Course:
    id: str
    title: str
    description: str
    skills: tuple[str, ...]
    prerequisites: tuple[str, ...]
    level: int
    hours: float
    provider: str
    cluster: int = -1  # course cluster id from `careerpath data cluster`; -1 when not clustered


@dataclass(frozen=True)
class Job:
    id: str
    title: str
    alt_titles: tuple[str, ...]
    description: str
    family: str
    level: int
    skills: dict[str, float] = field(hash=False, compare=True)
    demand: float = 0.0  # market-demand weight in [0, 1]; 0 when the source has none


@dataclass(frozen=True)
class Transition:
    from_job: str
    to_job: str
    weight: float = 1.0
    why: str = ""  # where the move comes from, shown to users (e.g. the share of leavers observed)


@dataclass
class Catalog:
    """Validated catalog. Dict order is file order, which fixes every id <-> index mapping."""

    skills: dict[str, Skill]
    courses: dict[str, Course]
    jobs: dict[str, Job]
    transitions: list[Transition] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
    source: str = ""

    @property
    def untagged(self) -> dict[str, list[str]]:
        """Ids of the courses and jobs with no skill yet (only a catalog loaded with
        ``allow_untagged=True`` has any): they must be tagged before ``data build``."""
        return {
            "courses": [c.id for c in self.courses.values() if not c.skills],
            "jobs": [j.id for j in self.jobs.values() if not j.skills],
        }

    def __post_init__(self) -> None:
        self.skill_index = NameIndex("skill")
        for s in self.skills.values():
            self.skill_index.add(s.id, s.name, s.aliases)
        self.skill_index.add_known_aliases(KNOWN_ALIASES)
        self.job_index = NameIndex("job")
        for j in self.jobs.values():
            self.job_index.add(j.id, j.title, j.alt_titles)
        self.course_index = NameIndex("course")
        for c in self.courses.values():
            self.course_index.add(c.id, c.title)
        self.course_ids = list(self.courses)
        self.job_ids = list(self.jobs)
        self.course_by_title = {c.title: c for c in self.courses.values()}
        self.job_by_title = {j.title: j for j in self.jobs.values()}
        self.skill_by_name = {s.name: s for s in self.skills.values()}

    def skill_names(self, ids) -> list[str]:
        return [self.skills[i].name for i in ids]

    def name(self, kind: str, item: str) -> str:
        """The name a person reads for a job, skill or course id (``kind``: job, skill, course)."""
        if kind == "job":
            return self.jobs[item].title
        if kind == "skill":
            return self.skills[item].name
        return self.courses[item].title

    def summary(self) -> dict:
        return {
            "skills": len(self.skills),
            "courses": len(self.courses),
            "jobs": len(self.jobs),
            "families": len({j.family for j in self.jobs.values()}),
            "transitions": len(self.transitions),
        }

    def save(self, out_dir: Path) -> None:
        """Write the catalog as CSV in the same layout it is read from."""
        out_dir.mkdir(parents=True, exist_ok=True)
        rows = {
            "skills": [
                {
                    "id": s.id,
                    "name": s.name,
                    "aliases": ";".join(s.aliases),
                    "category": s.category,
                    "demand": _fmt_num(s.demand),
                }
                for s in self.skills.values()
            ],
            "courses": [
                {
                    **{k: v for k, v in asdict(c).items() if k not in ("skills", "prerequisites")},
                    "skills": ";".join(c.skills),
                    "prerequisites": ";".join(c.prerequisites),
                    "hours": _fmt_num(c.hours),
                }
                for c in self.courses.values()
            ],
            "jobs": [
                {
                    "id": j.id,
                    "title": j.title,
                    "alt_titles": ";".join(j.alt_titles),
                    "description": j.description,
                    "family": j.family,
                    "level": j.level,
                    "skills": ";".join(f"{k}:{_fmt_num(v)}" for k, v in j.skills.items()),
                    "demand": _fmt_num(j.demand),
                }
                for j in self.jobs.values()
            ],
            "transitions": [
                {"from_job": t.from_job, "to_job": t.to_job, "weight": _fmt_num(t.weight), "why": t.why}
                for t in self.transitions
            ],
        }
        columns = {
            "skills": ["id", "name", "aliases", "category"],
            "courses": [
                "id",
                "title",
                "description",
                "skills",
                "prerequisites",
                "level",
                "hours",
                "provider",
            ],
            "jobs": ["id", "title", "alt_titles", "description", "family", "level", "skills"],
            "transitions": ["from_job", "to_job", "weight"],
        }
        # optional columns are written only when some row uses them, so plain catalogs stay plain
        optional = {
            "skills": ("demand", any(s.demand for s in self.skills.values())),
            "courses": ("cluster", any(c.cluster >= 0 for c in self.courses.values())),
            "jobs": ("demand", any(j.demand for j in self.jobs.values())),
            "transitions": ("why", any(t.why for t in self.transitions)),
        }
        for name, (column, used) in optional.items():
            if used:
                columns[name].append(column)
            else:
                for row in rows[name]:
                    row.pop(column, None)
        for name, table in rows.items():
            with open(out_dir / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=columns[name], lineterminator="\n")
                writer.writeheader()
                writer.writerows(table)


def _fmt_num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
