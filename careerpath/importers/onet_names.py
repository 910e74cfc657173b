"""Names and cell values of an imported taxonomy: names without the text format's separators,
kept unique, near-duplicate skill names kept apart, id slugs, and the reading of O*NET cells."""

from __future__ import annotations

import re

from careerpath.core.catalog import (
    ROW_MERGE_MIN,
    Skill,
)
from careerpath.core.cleaning import clean_text, compact_key, find_near_duplicates, name_key

MAX_NAME_CHARS = 120


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

    :func:`careerpath.core.catalog.load_catalog` merges skill rows whose names score >= 95 (rapidfuzz), which
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
