"""The skills of an O*NET import and their weights per job: one skill per Skills/Knowledge
element (importance from IM and LV, generic elements weighted down, unrated occupations take their
SOC group's mean ratings) and the technology skills (Hot or In Demand examples, common ones
dropped, general office software collapsed into one skill)."""

from __future__ import annotations

import statistics

from careerpath.core.catalog import (
    Skill,
)
from careerpath.core.cleaning import clean_text, compact_key
from careerpath.importers.onet_config import OnetImportConfig
from careerpath.importers.onet_names import UniqueNames, sanitise_name, slug

OFFICE_ID = "tech-office-software"  # general office software, collapsed into one skill


def _soc_prefixes(code: str) -> list[str]:
    """Ever wider SOC groups of an O*NET-SOC code: 29-1141, 29-114, 29-11, 29-1, 29, then all."""
    base = code.split(".")[0]
    return [base, base[:6], base[:5], base[:4], base[:2], ""]


def _element_skills(elements: dict[str, tuple[str, str]], names: UniqueNames) -> dict[str, Skill]:
    """One skill per Skills/Knowledge element, with a unique name."""
    skills: dict[str, Skill] = {}
    for eid, (name, category) in elements.items():
        # "Mathematics" is both a Skills and a Knowledge element: the second becomes "Mathematics Knowledge"
        clean = sanitise_name(name)
        label = names.take(clean if clean not in names else f"{clean} {category.title()}", eid)
        skills[eid] = Skill(eid, label, (), f"onet-{category}")
    return skills


def _job_elements(
    tables, cfg: OnetImportConfig
) -> tuple[dict[str, dict[str, float]], dict[str, str], set[str]]:
    """Job -> element -> weight (with the SOC-group fallback for unrated occupations); the
    occupations that took a group's ratings (-> the group's prefix); the generic elements."""
    occ, elements, ratings = tables.occ, tables.elements, tables.ratings

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
    return job_elements, fallback, generic


def _technology(
    tech_rows: dict[str, list[tuple[str, bool, bool, str]]],
    cfg: OnetImportConfig,
    skills: dict[str, Skill],
    names: UniqueNames,
) -> dict:
    """The technology skills (added to ``skills``, after the elements, then "Office software") and
    per job the chosen ones with their weights, the job's demand, what was dropped as common and
    the office examples collapsed."""
    t = _TechTable()
    job_tech: dict[str, dict[str, float]] = {}
    job_demand: dict[str, float] = {}
    dropped_common: dict[str, int] = {}  # example -> occupations it was dropped from
    office_jobs: dict[str, list[str]] = {}  # occupation -> office examples collapsed
    if cfg.tech != "none":
        tech_freq: dict[str, int] = {}  # occupations listing each example: common tools before niche ones
        for rows in tech_rows.values():
            for key in {compact_key(r[0]) for r in rows}:
                tech_freq[key] = tech_freq.get(key, 0) + 1
        office = {clean_text(c).lower() for c in cfg.office_commodities}
        tech_total = max(len(tech_rows), 1)
        for code, rows in tech_rows.items():
            hot_share = sum(h for _, h, _, _ in rows) / len(rows)
            dem_share = sum(d for _, _, d, _ in rows) / len(rows)
            job_demand[code] = round((hot_share + dem_share) / 2, 4)
            keep = [r for r in rows if cfg.tech == "all" or r[1] or r[2]]
            keep = sorted(
                set(keep), key=lambda r: (not r[2], not r[1], -tech_freq[compact_key(r[0])], r[0].lower())
            )
            collapsed = [name for name, _, _, commodity in keep if commodity.lower() in office]
            if collapsed:
                office_jobs[code] = collapsed
            kept = [r for r in keep if r[3].lower() not in office]
            job_tech[code] = t.choose(kept, tech_freq, tech_total, cfg, dropped_common)
        t.add_skills(skills, names)
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
    return {
        "job_tech": job_tech,
        "job_demand": job_demand,
        "dropped_common": dropped_common,
        "office_jobs": office_jobs,
    }


class _TechTable:
    """The technology skills met so far: id per example (by compact key), whether any job marks it
    Hot, each listing job's In Demand flag, its commodity and its name."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.hot: dict[str, bool] = {}
        self.jobs: dict[str, list[bool]] = {}
        self.commodity: dict[str, str] = {}
        self.name: dict[str, str] = {}

    def choose(self, keep, tech_freq, tech_total, cfg: OnetImportConfig, dropped_common) -> dict[str, float]:
        """One job's technology skills and weights from its (sorted, non-office) examples."""
        chosen: dict[str, float] = {}
        for name, hot, dem, commodity in keep:
            key = compact_key(name)
            if tech_freq[key] / tech_total > cfg.max_tech_share:
                dropped_common[name] = dropped_common.get(name, 0) + 1
                continue
            if key not in self.ids:
                tid = f"tech-{slug(name)}"
                while tid in self.hot:
                    tid += "-x"
                self.ids[key] = tid
                self.hot[tid] = False
                self.jobs[tid] = []
                self.commodity[tid] = commodity
                self.name[tid] = name
            tid = self.ids[key]
            if tid in chosen:
                continue
            if len(chosen) >= cfg.max_tech_per_job:
                break
            self.hot[tid] = self.hot[tid] or hot
            self.jobs[tid].append(dem)
            chosen[tid] = round(
                min(1.0, cfg.tech_importance + cfg.tech_hot_bonus * hot + cfg.tech_in_demand_bonus * dem),
                4,
            )
        return chosen

    def add_skills(self, skills: dict[str, Skill], names: UniqueNames) -> None:
        """A skill per technology some job kept; demand = 0.5 Hot + 0.5 the In Demand share."""
        for tid in self.ids.values():
            if not self.jobs[tid]:
                continue
            name = self.name[tid]
            share = sum(self.jobs[tid]) / len(self.jobs[tid])
            skills[tid] = Skill(
                tid,
                names.take(name, tid) if name not in names else names.take(f"{name} Software", tid),
                (),
                f"onet-technology: {sanitise_name(self.commodity[tid])}",
                round(0.5 * self.hot[tid] + 0.5 * share, 4),
            )
