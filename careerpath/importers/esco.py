"""``careerpath data import-esco``: a careerpath catalog from the ESCO classification as published.

    careerpath data import-esco PATH [PATH ...] --out CATALOG_DIR [--config configs/data/esco_import.yaml]
                                [--courses DIR] [--set KEY=VALUE ...]

Each ``PATH`` is one of the two official zips (``esco_v1.1.1_classification_en_csv.zip`` and
``esco_v1.1.1_relations_csv.zip``), their extracted folders, or a folder holding either. Files are
found by name: ``occupations_<lang>.csv``, ``skills_<lang>.csv``, ``ISCOGroups_<lang>.csv`` and
``occupationSkillRelations.csv``. What becomes what (thresholds in ``configs/data/esco_import.yaml``):

- jobs: occupations (preferredLabel, description, altLabels as alt_titles, at most
  ``max_alt_titles``); id = the UUID at the end of the concept URI. Family = the ISCO-08 major
  group (first digit of ``iscoGroup``, named from ``ISCOGroups``). Level = the ISCO-08 skill level
  of the major group (9: 1; 4-8: 2; 3: 3; 2: 4), managers (1) 5 so that moves into management go
  up, armed forces by sub-major group (01 officers 4, 02 non-commissioned 2, 03 other ranks 1).
- skills: every skill/competence and knowledge concept (``skills_<lang>.csv``), with up to
  ``max_aliases`` altLabels; category = skillType and reuseLevel.
- job skills: essential relations weigh ``essential_weight`` (1.0), optional ones
  ``optional_weight`` (0.5; 0 leaves them out). Essential before optional: an occupation keeps
  every essential skill, then optional ones in the release's order until ``max_skills_per_job``;
  the import report counts skills per occupation and the optional relations dropped.
- transitions (ESCO has none), derived from skill overlap: J(a, b) = Jaccard similarity of the two
  occupations' *essential* skill sets (sparse occupation x skill matrix, row blocks). For each
  occupation a, candidates are occupations b with J >= ``min_jaccard`` and level(b) >= level(a)
  (moves go sideways or up, never down); it keeps the ``k_within`` best b in its own ISCO
  sub-major group (first two digits) and the ``k_across`` best in other groups, weight = J.
- courses: :func:`careerpath.importers.onet.attach_courses` (re-tagged bundled or user courses, plus one
  generated course per required skill no course teaches: "Learn to <skill>" for skills and
  competences, "Foundations of <knowledge>" for knowledge).
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from scipy import sparse

from careerpath.core.catalog import Catalog, CatalogError, Job, Skill, Transition
from careerpath.core.cleaning import clean_text
from careerpath.core.config import bundled_config
from careerpath.importers.onet import parse_args
from careerpath.importers.onet_config import CourseConfig, load_import_config
from careerpath.importers.onet_courses import attach_courses, write_catalog_atomically
from careerpath.importers.onet_import import _plain
from careerpath.importers.onet_names import UniqueNames, keep_apart, sanitise_name
from careerpath.importers.onet_release import SourceError

ESCO_FILES = {
    "occupations": (r"occupations_[a-z]{2}\.csv", ("conceptUri", "iscoGroup", "preferredLabel", "altLabels")),
    "skills": (r"skills_[a-z]{2}\.csv", ("conceptUri", "skillType", "preferredLabel", "altLabels")),
    "isco": (r"iscogroups_[a-z]{2}\.csv", ("code", "preferredLabel")),
    "relations": (r"occupationskillrelations\.csv", ("occupationUri", "relationType", "skillUri")),
}
WHERE = {
    "occupations": "the classification zip (esco_..._classification_<lang>_csv.zip)",
    "skills": "the classification zip (esco_..._classification_<lang>_csv.zip)",
    "isco": "the classification zip (esco_..._classification_<lang>_csv.zip)",
    "relations": "the relations zip (esco_..._relations_csv.zip)",
}
# ISCO-08 skill level of each major group (managers one above professionals), armed forces by sub-major
ISCO_LEVELS = {"1": 5, "2": 4, "3": 3, "4": 2, "5": 2, "6": 2, "7": 2, "8": 2, "9": 1}
ARMED_FORCES_LEVELS = {"01": 4, "02": 2, "03": 1}


@dataclass
class EscoImportConfig:
    """Thresholds of ``careerpath data import-esco`` (configs/data/esco_import.yaml)."""

    language: str = "en"
    """Language of the classification CSVs (occupations_<language>.csv ...)."""
    essential_weight: float = 1.0
    """Importance of an essential occupation-skill relation."""
    optional_weight: float = 0.5
    """Importance of an optional relation (0: optional skills are left out)."""
    max_skills_per_job: int = 30
    """Most skills per occupation: every essential one, then optional ones in the release's order
    until this many (0: no limit). ESCO lists 41 relations per occupation on average."""
    max_alt_titles: int = 10
    """Alternative labels kept per occupation (shortest first)."""
    max_aliases: int = 5
    """Alternative labels kept per skill (shortest first)."""
    min_jaccard: float = 0.1
    """Least Jaccard similarity of essential skill sets for a derived transition."""
    k_within: int = 5
    """Derived transitions per occupation to occupations of the same ISCO sub-major group."""
    k_across: int = 3
    """Derived transitions per occupation to occupations of other ISCO groups."""
    courses: CourseConfig = field(default_factory=CourseConfig)
    """How courses are attached (re-tagging, generated courses)."""


class EscoSource:
    """The CSV files of an ESCO download: zips, extracted folders, or folders holding zips."""

    def __init__(self, paths: list[str | Path], language: str = "en"):
        self.files: dict[str, tuple[str, object]] = {}  # lower file name -> (label, opener)
        self.language = language
        for path in map(Path, paths):
            if not path.exists():
                raise SourceError(
                    f"{path}: not found; pass the ESCO zips or the folders they were extracted to"
                )
            if path.is_file():
                self._add_zip(path)
            else:
                for p in sorted(path.rglob("*")):
                    if p.suffix.lower() == ".zip":
                        self._add_zip(p)
                    elif p.suffix.lower() == ".csv":
                        self.files.setdefault(p.name.lower(), (str(p), lambda p=p: p.read_bytes()))
        self.paths = [str(p) for p in paths]

    def _add_zip(self, path: Path) -> None:
        if not zipfile.is_zipfile(path):
            raise SourceError(f"{path}: not a zip; pass the ESCO zips or the folders they were extracted to")
        zf = zipfile.ZipFile(path)
        for name in zf.namelist():
            if name.lower().endswith(".csv"):
                self.files.setdefault(
                    Path(name).name.lower(), (f"{path.name}:{name}", lambda n=name, z=zf: z.read(n))
                )

    def rows(self, table: str) -> list[dict]:
        pattern, columns = ESCO_FILES[table]
        names = [n for n in self.files if re.fullmatch(pattern, n)]
        names.sort(key=lambda n: (f"_{self.language}." not in n, n))
        if not names:
            shown = pattern.replace(r"[a-z]{2}", self.language).replace("\\", "")
            raise SourceError(
                f"{', '.join(self.paths)}: no {shown}; it is in {WHERE[table]} from "
                "https://esco.ec.europa.eu/en/use-esco/download (CSV, the language you want)"
            )
        label, read = self.files[names[0]]
        text = read().decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise SourceError(
                f"{label}: missing column(s) {', '.join(repr(c) for c in missing)} in the header row; "
                "use the file as published (ESCO CSV download)"
            )
        return list(reader)


def _uuid(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _labels(text: str | None) -> list[str]:
    return [x for x in (sanitise_name(v) for v in (text or "").splitlines()) if x]


def esco_level(isco: str) -> int:
    """Catalog level of an occupation from its ISCO-08 code (see the module docstring)."""
    isco = (isco or "").strip()
    if isco.startswith("0"):
        return ARMED_FORCES_LEVELS.get(isco[:2], 2)
    return ISCO_LEVELS.get(isco[:1], 2)


def derive_transitions(
    occ_ids: list[str],
    skill_sets: list[list[int]],
    n_skills: int,
    levels: list[int],
    groups: list[str],
    cfg: EscoImportConfig,
    block: int = 512,
) -> list[Transition]:
    """Transitions from the Jaccard similarity of essential skill sets (the rule in the module docstring)."""
    n = len(occ_ids)
    rows = np.repeat(np.arange(n), [len(s) for s in skill_sets])
    cols = np.fromiter((c for s in skill_sets for c in s), dtype=np.int64, count=len(rows))
    x = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, max(n_skills, 1)))
    sizes = np.asarray(x.sum(axis=1)).ravel()
    xt = x.T.tocsr()
    lv = np.asarray(levels)
    grp = np.asarray(groups, dtype=object)
    out: list[Transition] = []
    for start in range(0, n, block):
        inter = (x[start : start + block] @ xt).toarray()
        union = sizes[start : start + block, None] + sizes[None, :] - inter
        jac = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        for r in range(jac.shape[0]):
            a = start + r
            score = jac[r]
            ok = (score >= cfg.min_jaccard) & (lv >= lv[a])
            ok[a] = False
            same = grp == grp[a]
            for mask, k in ((ok & same, cfg.k_within), (ok & ~same, cfg.k_across)):
                idx = np.flatnonzero(mask)
                if k <= 0 or idx.size == 0:
                    continue
                best = idx[np.lexsort((idx, -score[idx]))[:k]]
                out.extend(Transition(occ_ids[a], occ_ids[b], round(float(score[b]), 4)) for b in best)
    return out


def import_esco(paths, cfg: EscoImportConfig | None = None, courses_dir=None) -> tuple[Catalog, dict]:
    """Read an ESCO download into a (not yet validated) :class:`Catalog` and an import report."""
    cfg = cfg or EscoImportConfig()
    src = EscoSource(paths if isinstance(paths, (list, tuple)) else [paths], cfg.language)
    occ_rows = src.rows("occupations")
    skill_rows = src.rows("skills")
    isco_rows = src.rows("isco")
    rel_rows = src.rows("relations")
    major_names = {
        r["code"].strip(): sanitise_name(r["preferredLabel"])
        for r in isco_rows
        if len(r["code"].strip()) == 1
    }
    skills, uri_to_skill = _skills(skill_rows, cfg)
    renamed = keep_apart(skills)
    occ, uri_to_job = _occupations(occ_rows)
    required, essential, unknown = _relations(rel_rows, occ, uri_to_job, uri_to_skill, cfg)
    optional_dropped = _cap_optional(required, essential, cfg.max_skills_per_job)
    jobs = _jobs(occ, required, major_names, cfg)
    transitions = _transitions(jobs, skills, essential, occ, cfg)
    courses, course_report = attach_courses(skills, jobs, cfg.courses, courses_dir, title_of=_course_title)
    catalog = Catalog(skills, courses, jobs, transitions, [], ";".join(src.paths))
    report = {
        "source": src.paths,
        "occupations": len(occ),
        "jobs": len(jobs),
        "occupations_without_skills_dropped": sorted(set(occ) - set(jobs)),
        "skills": len(skills),
        "relations": len(rel_rows),
        "relations_with_unknown_uri": unknown,
        "transitions": len(transitions),
        "skills_renamed_to_keep_apart": [f"{a} -> {b}" for a, b in renamed],
        "skills_per_job": _skill_counts(jobs, essential),
        "optional_relations_dropped": optional_dropped,
        "courses": course_report,
        "config": _plain(cfg),
    }
    return catalog, report


def _skills(skill_rows: list[dict], cfg: EscoImportConfig) -> tuple[dict[str, Skill], dict[str, str]]:
    """Every skill/competence and knowledge concept, by UUID, and the concept URI -> skill id map."""
    skills: dict[str, Skill] = {}
    names = UniqueNames()
    uri_to_skill: dict[str, str] = {}
    for r in sorted(skill_rows, key=lambda r: r["conceptUri"]):
        label = sanitise_name(r["preferredLabel"])
        sid = _uuid(r["conceptUri"])
        if not label or not sid or sid in skills:
            continue
        stype = clean_text(r.get("skillType") or "") or "skill"
        name = names.take(label, stype if stype else sid)
        aliases = [a for a in sorted(set(_labels(r["altLabels"])), key=lambda a: (len(a), a)) if a != label]
        category = "esco-" + "-".join(x for x in (stype, clean_text(r.get("reuseLevel") or "")) if x)
        skills[sid] = Skill(sid, name, tuple(aliases[: cfg.max_aliases]), category)
        uri_to_skill[r["conceptUri"]] = sid
    return skills, uri_to_skill


def _occupations(occ_rows: list[dict]) -> tuple[dict[str, dict], dict[str, str]]:
    """Occupation rows with a UUID and a label, by UUID (URI order), and the URI -> job id map."""
    occ: dict[str, dict] = {}
    uri_to_job: dict[str, str] = {}
    for r in sorted(occ_rows, key=lambda r: r["conceptUri"]):
        jid = _uuid(r["conceptUri"])
        if jid and r["preferredLabel"].strip():
            occ[jid] = r
            uri_to_job[r["conceptUri"]] = jid
    return occ, uri_to_job


def _relations(
    rel_rows: list[dict],
    occ: dict[str, dict],
    uri_to_job: dict[str, str],
    uri_to_skill: dict[str, str],
    cfg: EscoImportConfig,
) -> tuple[dict[str, dict[str, float]], dict[str, list[str]], int]:
    """Weighted skills per occupation, its essential skills (release order), and how many relations
    named an unknown occupation or skill."""
    required: dict[str, dict[str, float]] = {j: {} for j in occ}
    essential: dict[str, list[str]] = {j: [] for j in occ}
    unknown = 0
    for r in rel_rows:
        jid, sid = uri_to_job.get(r["occupationUri"]), uri_to_skill.get(r["skillUri"])
        if jid is None or sid is None:
            unknown += 1
            continue
        kind = r["relationType"].strip().lower()
        w = cfg.essential_weight if kind == "essential" else cfg.optional_weight
        if kind == "essential":
            essential[jid].append(sid)
        if w > 0:
            required[jid][sid] = max(required[jid].get(sid, 0.0), w)
    return required, essential, unknown


def _jobs(
    occ: dict[str, dict],
    required: dict[str, dict[str, float]],
    major_names: dict[str, str],
    cfg: EscoImportConfig,
) -> dict[str, Job]:
    """One job per occupation with at least one skill (occupation order)."""
    titles = UniqueNames()
    jobs: dict[str, Job] = {}
    for jid, r in occ.items():
        if not required[jid]:
            continue
        label = sanitise_name(r["preferredLabel"])
        isco = r["iscoGroup"].strip()
        title = titles.take(label, f"ISCO {isco}" if isco else jid)
        alts = [
            a
            for a in sorted(set(_labels(r["altLabels"])), key=lambda a: (len(a), a))
            if a.lower() != title.lower()
        ]
        if title != label:
            alts.insert(0, label)
        major = isco[:1]
        jobs[jid] = Job(
            id=jid,
            title=title,
            alt_titles=tuple(dict.fromkeys(alts[: cfg.max_alt_titles])),
            description=clean_text(r.get("description") or ""),
            family=major_names.get(major, f"ISCO major group {major or 'unknown'}"),
            level=esco_level(isco),
            skills=dict(required[jid]),
        )
    return jobs


def _transitions(
    jobs: dict[str, Job],
    skills: dict[str, Skill],
    essential: dict[str, list[str]],
    occ: dict[str, dict],
    cfg: EscoImportConfig,
) -> list[Transition]:
    """Transitions derived from the overlap of the jobs' essential skill sets."""
    job_ids = list(jobs)
    skill_pos = {s: i for i, s in enumerate(skills)}
    return derive_transitions(
        job_ids,
        [[skill_pos[s] for s in dict.fromkeys(essential[j])] for j in job_ids],
        len(skills),
        [jobs[j].level for j in job_ids],
        [occ[j]["iscoGroup"].strip()[:2] for j in job_ids],
        cfg,
    )


def _course_title(skill: Skill) -> str:
    """Title of the course generated for a skill no course teaches."""
    return f"Foundations of {skill.name}" if "knowledge" in skill.category else f"Learn to {skill.name}"


def _cap_optional(required: dict[str, dict[str, float]], essential: dict[str, list[str]], cap: int) -> int:
    """Essential skills before optional ones: an occupation keeps every essential skill and its
    optional ones in the release's order until ``cap`` skills (in place); returns how many optional
    relations were dropped."""
    dropped = 0
    if cap <= 0:
        return 0
    for jid, req in required.items():
        if len(req) <= cap:
            continue
        ess = set(essential.get(jid, ()))
        room = max(cap - sum(s in ess for s in req), 0)
        optional = [s for s in req if s not in ess]
        for s in optional[room:]:
            del req[s]
            dropped += 1
    return dropped


def _skill_counts(jobs: dict[str, Job], essential: dict[str, list[str]]) -> dict:
    """Skills per imported occupation: all, essential, optional (mean, median, min, max)."""

    def stats(xs: list[int]) -> dict:
        if not xs:
            return {}
        return {
            "mean": round(float(np.mean(xs)), 2),
            "median": float(np.median(xs)),
            "min": min(xs),
            "max": max(xs),
        }

    ess = [sum(s in set(essential.get(j, ())) for s in job.skills) for j, job in jobs.items()]
    total = [len(job.skills) for job in jobs.values()]
    return {
        "all": stats(total),
        "essential": stats(ess),
        "optional": stats([t - e for t, e in zip(total, ess)]),
    }


def build_parser() -> argparse.ArgumentParser:
    from careerpath.core.cli_common import ArgumentParser, HelpFormatter, add_importer_flags, add_json_flag

    p = ArgumentParser(
        prog="careerpath data import-esco",
        description="Build a careerpath catalog from an ESCO download. Any key of the import config is a "
        "flag too: --k-within 8, --courses.generate false.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("path", nargs="+", help="the ESCO classification and relations zips, or their folders")
    add_importer_flags(p, "esco", "--k-within 8")
    add_json_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args, overrides = parse_args(build_parser(), argv)
        cfg = load_import_config(
            EscoImportConfig, args.config or bundled_config("data/esco_import.yaml"), overrides=overrides
        )
        catalog, report = import_esco(args.path, cfg, args.courses)
        loaded = write_catalog_atomically(catalog, args.out, report)
    except (SourceError, CatalogError, yaml.YAMLError, TypeError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    s = loaded.summary()
    c = report["courses"]
    if args.json:
        from careerpath.core.cli_common import print_json

        print_json({"out": str(args.out), "catalog": s, "report": report})
        return 0
    print(
        f"wrote {args.out}: {s['jobs']} jobs in {s['families']} families, {s['skills']} skills, "
        f"{s['transitions']} transitions, {s['courses']} courses "
        f"({c['retagged_courses']} re-tagged, {c['generated_courses']} generated)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
