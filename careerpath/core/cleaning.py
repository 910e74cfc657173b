"""Cleaning and standardising names (seed step 1).

Skill names and job titles arrive in many spellings ("JS", "Javascript", "java script"). This
module maps them to canonical catalog entries: exact keys first (case, whitespace, punctuation),
then known aliases and abbreviations, then fuzzy matching (rapidfuzz) for near-duplicates. Every
merge is recorded so a person can review it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

# Abbreviations and spellings seen in the wild, mapped to a canonical name. Catalog aliases add to
# these; a catalog can override any of them.
KNOWN_ALIASES = {
    "js": "JavaScript",
    "javascript": "JavaScript",
    "ecmascript": "JavaScript",
    "ts": "TypeScript",
    "ml": "Machine Learning",
    "ai": "Artificial Intelligence",
    "dl": "Deep Learning",
    "nlp": "Natural Language Processing",
    "cv": "Computer Vision",
    "k8s": "Kubernetes",
    "postgres": "PostgreSQL",
    "py": "Python",
    "golang": "Go",
    "ux": "User Experience Design",
    "ui": "User Interface Design",
    "seo": "Search Engine Optimization",
    "ppc": "Pay-Per-Click Advertising",
    "crm": "Customer Relationship Management",
    "excel": "Microsoft Excel",
    "ms excel": "Microsoft Excel",
    "powerbi": "Power BI",
    "aws": "Amazon Web Services",
    "gcp": "Google Cloud Platform",
    "ci cd": "CI/CD",
    "cicd": "CI/CD",
    "stats": "Statistics",
    "pm": "Project Management",
}

_KEEP = re.compile(r"[^0-9a-z+#]+")


def clean_text(text: str) -> str:
    """Unicode-normalise, strip control characters and collapse whitespace (display form)."""
    text = unicodedata.normalize("NFKC", str(text))
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())


def name_key(text: str) -> str:
    """Comparison key: lowercase, punctuation to spaces (keeping + and # for C++ and C#)."""
    return " ".join(_KEEP.sub(" ", clean_text(text).lower()).split())


def compact_key(text: str) -> str:
    """Key with the spaces removed too, so "java script" meets "JavaScript"."""
    return name_key(text).replace(" ", "")


@dataclass
class Merge:
    """One standardisation decision, kept for the cleaning report."""

    kind: str  # "skill" or "job"
    raw: str
    canonical: str
    how: str  # "exact", "alias", "fuzzy:<score>"

    def as_dict(self) -> dict:
        return {"kind": self.kind, "raw": self.raw, "canonical": self.canonical, "how": self.how}


@dataclass
class NameIndex:
    """Resolves free-form names to canonical ids through keys, aliases and fuzzy matching."""

    kind: str
    names: dict[str, str] = field(default_factory=dict)  # id -> display name
    _exact: dict[str, str] = field(default_factory=dict)  # key -> id
    _alias: dict[str, str] = field(default_factory=dict)  # key -> id
    fuzzy_threshold: float = 90.0
    min_fuzzy_len: int = 5

    def add(self, item_id: str, name: str, aliases: tuple[str, ...] = ()) -> None:
        self.names[item_id] = name
        for text in (item_id, name):
            for key in (name_key(text), compact_key(text)):
                self._exact.setdefault(key, item_id)
        for alias in aliases:
            for key in (name_key(alias), compact_key(alias)):
                self._alias.setdefault(key, item_id)

    def add_alias(self, alias: str, item_id: str) -> None:
        """Point one more spelling (or a merged-away id) at ``item_id``."""
        self._alias.setdefault(name_key(alias), item_id)
        self._alias.setdefault(compact_key(alias), item_id)

    def add_known_aliases(self, table: dict[str, str]) -> None:
        """Attach abbreviations whose canonical name is in this index (unknown ones are ignored)."""
        for alias, canonical in table.items():
            item_id = self._exact.get(name_key(canonical)) or self._exact.get(compact_key(canonical))
            if item_id:
                self._alias.setdefault(name_key(alias), item_id)
                self._alias.setdefault(compact_key(alias), item_id)

    def resolve(self, raw: str, fuzzy: bool = True) -> tuple[str | None, str]:
        """Return ``(id, how)``; ``(None, "")`` when nothing matches well enough."""
        key, compact = name_key(raw), compact_key(raw)
        if not key:
            return None, ""
        for table, how in ((self._exact, "exact"), (self._alias, "alias")):
            hit = table.get(key) or table.get(compact)
            if hit:
                return hit, how
        if fuzzy and len(compact) >= self.min_fuzzy_len:
            choices = {
                k: v for k, v in {**self._alias, **self._exact}.items() if len(k) >= self.min_fuzzy_len
            }
            best = process.extractOne(compact, list(choices), scorer=fuzz.ratio)
            if best and best[1] >= self.fuzzy_threshold:
                return choices[best[0]], f"fuzzy:{best[1]:.0f}"
        return None, ""

    def suggest(self, raw: str, limit: int = 3) -> list[str]:
        """Closest display names, for "did you mean" messages."""
        names = list(self.names.values())
        hits = process.extract(name_key(raw), names, scorer=fuzz.ratio, processor=name_key, limit=limit)
        return [h[0] for h in hits if h[1] >= 60]


def find_near_duplicates(names: dict[str, str], threshold: float = 92.0) -> list[tuple[str, str, float]]:
    """Pairs of ids whose names are near-duplicates ("Javascript" vs "JavaScript", "Phyton" vs "Python").

    Returns ``(keep_id, drop_id, score)``; the first-seen id is kept.
    """
    seen: dict[str, str] = {}
    pairs = []
    for item_id, name in names.items():
        ck = compact_key(name)
        if ck in seen:
            pairs.append((seen[ck], item_id, 100.0))
            continue
        if len(ck) >= 6 and seen:
            best = process.extractOne(ck, list(seen), scorer=fuzz.ratio)
            if best and best[1] >= threshold:
                pairs.append((seen[best[0]], item_id, float(best[1])))
                continue
        seen[ck] = item_id
    return pairs
