"""The review step: proposals as rows of the review CSV, reading back the accepted rows, merging
them into the catalog and writing the catalog atomically."""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from careerpath.core.atomic import atomic_dir
from careerpath.core.catalog import Catalog, CatalogError, load_catalog
from careerpath.curation.tagging_config import (
    NO,
    REVIEW_COLUMNS,
    YES,
    TaggingConfig,
)
from careerpath.curation.tagging_match import (
    Proposal,
)


def review_rows(catalog: Catalog, proposals: list[Proposal], cfg: TaggingConfig, hide_existing: bool):
    """Rows of the review CSV; ``accept`` is ``yes`` for new tags at or above the threshold."""
    rows = []
    for p in proposals:
        item = catalog.courses[p.item_id] if p.kind == "course" else catalog.jobs[p.item_id]
        existing = p.skill_id in item.skills
        if existing and hide_existing:
            continue
        accept = "yes" if p.confidence >= cfg.threshold - 1e-9 and not existing else ""
        rows.append(
            {
                "kind": p.kind,
                "id": p.item_id,
                "title": item.title,
                "skill_id": p.skill_id,
                "skill_name": catalog.skills[p.skill_id].name,
                "confidence": f"{p.confidence:.3f}",
                "method": p.method,
                "evidence": p.evidence,
                "existing": "yes" if existing else "no",
                "accept": accept,
            }
        )
    return rows


def write_review(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=REVIEW_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_accepted(path: Path, catalog: Catalog) -> list[tuple[str, str, str, float | None]]:
    """Accepted ``(kind, item_id, skill_id, importance)`` rows of a review CSV; every bad row is named."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: review file not found; make one with `careerpath data tag`")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("kind", "id", "skill_id", "accept") if c not in (reader.fieldnames or [])]
        if missing:
            raise CatalogError([f"{path.name}: missing column(s) {', '.join(missing)}; keep the header"])
        rows = list(reader)
    problems, accepted = [], []
    for line, row in enumerate(rows, start=2):
        where = f"{path.name} row {line}"
        decision = (row.get("accept") or "").strip().lower()
        if decision not in YES | NO:
            problems.append(
                f"{where}, field 'accept': {row.get('accept')!r} is not yes or no; leave it empty"
            )
            continue
        if decision in NO:
            continue
        kind, item_id = (row.get("kind") or "").strip(), (row.get("id") or "").strip()
        table = {"course": catalog.courses, "job": catalog.jobs}.get(kind)
        if table is None:
            problems.append(f"{where}, field 'kind': {kind!r} must be course or job")
            continue
        if item_id not in table:
            problems.append(f"{where}, field 'id': unknown {kind} {item_id!r}; use an id from {kind}s")
            continue
        raw_skill = (row.get("skill_id") or "").strip()
        sid = raw_skill if raw_skill in catalog.skills else catalog.skill_index.resolve(raw_skill, False)[0]
        if sid is None:
            hint = catalog.skill_index.suggest(raw_skill)
            did = f" (did you mean {', '.join(repr(h) for h in hint)}?)" if hint else ""
            problems.append(f"{where}, field 'skill_id': unknown skill {raw_skill!r}{did}; use a skill id")
            continue
        importance = None
        raw_imp = (row.get("importance") or "").strip()
        if raw_imp:
            try:
                importance = float(raw_imp)
            except ValueError:
                importance = -1.0
            if not 0.0 <= importance <= 1.0:
                problems.append(f"{where}, field 'importance': {raw_imp!r} must be a number in [0, 1]")
                continue
        accepted.append((kind, item_id, sid, importance))
    if problems:
        raise CatalogError(problems)
    return accepted


def apply_tags(
    catalog: Catalog, accepted: list[tuple[str, str, str, float | None]], job_importance: float = 0.5
) -> tuple[Catalog, int]:
    """A new catalog with the accepted tags added (existing tags are kept); and how many were new."""
    courses, jobs = dict(catalog.courses), dict(catalog.jobs)
    added = 0
    for kind, item_id, sid, importance in accepted:
        if kind == "course":
            c = courses[item_id]
            if sid not in c.skills:
                prereq = tuple(p for p in c.prerequisites if p != sid)  # taught now, no longer required
                courses[item_id] = replace(c, skills=(*c.skills, sid), prerequisites=prereq)
                added += 1
        else:
            j = jobs[item_id]
            if sid not in j.skills:
                jobs[item_id] = replace(j, skills={**j.skills, sid: importance or job_importance})
                added += 1
    new = Catalog(catalog.skills, courses, jobs, catalog.transitions, catalog.merges, catalog.source)
    return new, added


def save_catalog_atomic(catalog: Catalog, out_dir: Path) -> None:
    """Write the catalog as CSV into a temporary folder beside ``out_dir``, then move it into place."""
    out_dir = Path(out_dir)
    existed = out_dir.exists()
    with atomic_dir(out_dir, merge=True) as tmp:  # each table is swapped in one step
        catalog.save(tmp)
        load_catalog(tmp, allow_untagged=True)  # what we wrote must read back
    stale = [p.name for p in out_dir.iterdir() if p.suffix in (".json", ".jsonl")] if existed else []
    if stale:
        print(f"note: {out_dir} also holds {', '.join(stale)}; the new .csv files take precedence")
