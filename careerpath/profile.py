"""From what a person types to a profile of catalog entities.

Fields ("Data Analyst", ["SQL", "pyhton"]) or free text ("I'm a data analyst, I know SQL and
Python, I want to become an ML engineer") are resolved to catalog ids through the catalog's
aliases and alternate titles, fuzzy matching and, for titles, sentence embeddings. Words that
match nothing are reported with "did you mean" suggestions; words that are irrelevant (names,
ages, pleasantries) are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from data_prep.catalog import Catalog
from data_prep.cleaning import clean_text, name_key
from data_prep.context import GapRetriever, add_context
from data_prep.textformat import Profile, serialise_input

MAX_TEXT_CHARS = 2000
MAX_ITEMS = 60
_END = r"[^.;!?\n]+"
_GOAL = [
    rf"\b(?:want|wants|would like|hope|hoping|aim|aiming|plan|planning|wish|trying)\s+to\s+(?:become|be|work as|move into|move to|transition into|transition to|get into|switch to)\s+(?:an?\s+)?(?P<x>{_END})",
    rf"\b(?:goal|target|dream job|target role)\s*(?:is|:)\s*(?:to\s+(?:become|be)\s+)?(?:an?\s+)?(?P<x>{_END})",
    rf"\bbecom(?:e|ing)\s+(?:an?\s+)?(?P<x>{_END})",
    rf"\bwhat about\s+(?:becoming\s+)?(?:an?\s+)?(?P<x>{_END})",
]
_JOB = [
    rf"\b(?:i am|i'm|im|i work as|i'm working as|working as|currently|my (?:job|role|title|position) is)\s+(?:now\s+)?(?:an?\s+)?(?P<x>{_END})",
    rf"\bjob\s*:\s*(?P<x>{_END})",
]
_SKILLS = [
    rf"\b(?:know|knows|i can use|i use|skills?(?: include| are)?\s*:?|experience (?:with|in)|familiar with|proficient (?:in|with)|good at|i have)\s+(?P<x>{_END})",
]
_COURSES = [
    rf"\b(?:i (?:took|completed|finished|did|have taken|already took)|courses?(?: taken)?\s*:)\s+(?P<x>{_END})"
]
_CUT = re.compile(r"\s+(?:and|but|with|at|for|who|so|because|since|in order|from|to|by)\b.*$", re.I)
_SPLIT = re.compile(r"\s*(?:,|;|/|&|\band\b|\bplus\b|\bas well as\b)\s*", re.I)


@dataclass
class ResolvedProfile:
    """A person's situation as catalog ids, with what was matched and what was not."""

    job: str | None = None
    goal: str | None = None
    history: list[str] = field(default_factory=list)
    skills: list[str] = field(default_factory=list)
    courses: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    matches: list[dict] = field(default_factory=list)
    skills_assumed: bool = False
    """True when ``skills`` were not given but assumed from the current job (see
    :meth:`with_job_skills`)."""

    def with_job_skills(self, catalog: Catalog) -> ResolvedProfile:
        """A copy holding the current job's required skills, most important first, when the
        profile names a job but no skills (nor courses that imply some); else ``self``.

        Someone who says "I'm a registered nurse" holds a nurse's skills. Without this, the model
        sees a nurse with no skills at all, which no training example has (synthetic people start
        with most of their job's skills), and every plan starts by re-learning the job."""
        if not self.job or self.skills:
            return self
        req = catalog.jobs[self.job].skills
        skills = sorted(req, key=lambda s: -req[s])
        return replace(
            self,
            history=list(self.history),
            skills=skills,
            courses=list(self.courses),
            warnings=list(self.warnings),
            matches=list(self.matches),
            skills_assumed=bool(skills),
        )

    def to_text_profile(self, catalog: Catalog, context: GapRetriever | None = None) -> Profile:
        history = list(self.history)
        if self.job and (not history or history[-1] != self.job):
            history.append(self.job)
        order = {s: i for i, s in enumerate(catalog.skills)}
        profile = Profile(
            goal=catalog.jobs[self.goal].title if self.goal else "",
            job=catalog.jobs[self.job].title if self.job else "",
            history=[catalog.jobs[j].title for j in history],
            skills=[catalog.skills[s].name for s in sorted(self.skills, key=order.__getitem__)],
            courses=[catalog.courses[c].title for c in self.courses],
        )
        if context is not None:
            add_context(profile, context.context(self.job, self.goal, self.skills, self.courses), catalog)
        return profile

    def input_text(self, catalog: Catalog, context: GapRetriever | None = None) -> str:
        """The model's input; with ``context`` (the model's :class:`GapRetriever`), the catalog
        context fields its training inputs had."""
        return serialise_input(self.to_text_profile(catalog, context))

    def as_dict(self, catalog: Catalog) -> dict:
        return {
            "job": {"id": self.job, "title": catalog.jobs[self.job].title} if self.job else None,
            "goal": {"id": self.goal, "title": catalog.jobs[self.goal].title} if self.goal else None,
            "history": [{"id": j, "title": catalog.jobs[j].title} for j in self.history],
            "skills": [{"id": s, "name": catalog.skills[s].name} for s in self.skills],
            "skills_assumed": self.skills_assumed,
            "courses": [{"id": c, "title": catalog.courses[c].title} for c in self.courses],
        }


class ProfileResolver:
    """Resolves names to catalog ids; embeddings are the last resort for job and course titles."""

    def __init__(self, catalog: Catalog, use_embeddings: bool = True, embed_threshold: float = 0.72):
        self.catalog = catalog
        self.use_embeddings = use_embeddings
        self.embed_threshold = embed_threshold
        self._job_vecs = None
        self._skill_keys = self._phrase_table()

    def _phrase_table(self) -> dict[str, str]:
        """Every exact name/alias key of a skill, for spotting skills anywhere in free text."""
        idx = self.catalog.skill_index
        table = {**idx._alias, **idx._exact}
        return {k: v for k, v in table.items() if len(k) >= 2 and not k.isdigit()}

    # -- single names ----------------------------------------------------------------------
    def _embed_job(self, raw: str) -> tuple[str | None, float]:
        try:
            from careerpath.embeddings import Embedder
        except ImportError:  # pragma: no cover - torch is a dependency
            return None, 0.0
        try:
            emb = Embedder()
            if self._job_vecs is None:
                labels, ids = [], []
                for j in self.catalog.jobs.values():
                    for t in (j.title, *j.alt_titles):
                        labels.append(t)
                        ids.append(j.id)
                self._job_vecs = (emb.embed(labels), ids)
            vecs, ids = self._job_vecs
            sims = vecs @ emb.embed([raw])[0]
        except Exception:  # embeddings are a best-effort extra; the other matchers already ran
            return None, 0.0
        best = int(np.argmax(sims))
        return (
            (ids[best], float(sims[best]))
            if sims[best] >= self.embed_threshold
            else (None, float(sims[best]))
        )

    def resolve(self, kind: str, raw: str) -> tuple[str | None, str]:
        """``kind`` is "job", "skill" or "course"; returns ``(id, how)``."""
        raw = clean_text(raw)[:200]
        index = {
            "job": self.catalog.job_index,
            "skill": self.catalog.skill_index,
            "course": self.catalog.course_index,
        }[kind]
        hit, how = index.resolve(raw)
        if hit is None and kind == "job":
            words = raw.split()
            for n in range(len(words) - 1, 0, -1):  # "data analyst for five years" -> "data analyst"
                hit, how = index.resolve(" ".join(words[:n]), fuzzy=False)
                if hit:
                    break
            if hit is None:  # "devops" -> the one title that starts with it
                key = name_key(raw)
                starts = {
                    j.id
                    for j in self.catalog.jobs.values()
                    for t in (j.title, *j.alt_titles)
                    if name_key(t).startswith(key + " ")
                }
                if len(starts) == 1:
                    hit, how = starts.pop(), "partial"
            if hit is None and self.use_embeddings and len(raw) >= 3:
                hit, sim = self._embed_job(raw)
                how = f"embedding:{sim:.2f}" if hit else ""
        return hit, how

    def _note(self, prof: ResolvedProfile, kind: str, raw: str, hit: str | None, how: str) -> None:
        if hit:
            name = {
                "job": lambda i: self.catalog.jobs[i].title,
                "skill": lambda i: self.catalog.skills[i].name,
                "course": lambda i: self.catalog.courses[i].title,
            }[kind](hit)
            prof.matches.append({"kind": kind, "raw": raw, "id": hit, "name": name, "how": how})
            return
        index = {
            "job": self.catalog.job_index,
            "skill": self.catalog.skill_index,
            "course": self.catalog.course_index,
        }[kind]
        hint = index.suggest(raw)
        did = f" (did you mean {', '.join(repr(h) for h in hint)}?)" if hint else ""
        prof.warnings.append(f"unknown {kind} {raw[:60]!r}{did}")

    # -- whole profiles ----------------------------------------------------------------------
    def from_fields(
        self,
        job: str | None = None,
        skills=(),
        courses=(),
        goal: str | None = None,
        history=(),
        prof: ResolvedProfile | None = None,
    ) -> ResolvedProfile:
        prof = prof or ResolvedProfile()
        for kind, raw, attr in (("job", job, "job"), ("job", goal, "goal")):
            raw = _as_text(raw)
            if raw and clean_text(raw):
                hit, how = self.resolve(kind, raw)
                self._note(prof, kind, raw, hit, how)
                if hit:
                    setattr(prof, attr, hit)
        for kind, values, attr in (
            ("job", history, "history"),
            ("skill", skills, "skills"),
            ("course", courses, "courses"),
        ):
            for raw in _as_items(values)[:MAX_ITEMS]:
                raw = _as_text(raw)
                if not raw or not clean_text(raw):
                    continue
                hit, how = self.resolve(kind, raw)
                self._note(prof, kind, raw, hit, how)
                if hit and hit not in getattr(prof, attr):
                    getattr(prof, attr).append(hit)
        # courses taken imply their skills
        for c in prof.courses:
            for s in self.catalog.courses[c].skills:
                if s not in prof.skills:
                    prof.skills.append(s)
        return prof

    def from_text(self, text: str, prof: ResolvedProfile | None = None) -> ResolvedProfile:
        """Free text -> profile; ``prof`` is updated in place when given (chat follow-ups)."""
        if not isinstance(text, str):
            raise TypeError(f"profile text must be a string, got {type(text).__name__}")
        prof = prof or ResolvedProfile()
        if len(text) > MAX_TEXT_CHARS:
            prof.warnings.append(f"text cut to its first {MAX_TEXT_CHARS} characters")
            text = text[:MAX_TEXT_CHARS]
        text = clean_text(text)
        goal = self._first_resolving(_GOAL, text)
        job = self._first_resolving(_JOB, _without(text, _GOAL))
        skills = [s for m in _all(_SKILLS, text) for s in _SPLIT.split(m) if s.strip()]
        courses = [
            c for m in _all(_COURSES, text) for c in re.split(r"\s*(?:;|,|\band\b)\s*", m) if c.strip()
        ]
        self.from_fields(job=job, goal=goal, prof=prof)
        for raw in skills[:MAX_ITEMS]:
            hit, how = self.resolve("skill", raw)
            if hit is None and len(raw.split()) > 3:
                continue  # a clause, not a skill name: the phrase scan below picks up what it names
            self._note(prof, "skill", raw, hit, how)
            if hit and hit not in prof.skills:
                prof.skills.append(hit)
        for raw in courses[:MAX_ITEMS]:
            hit, how = self.resolve("course", raw)
            if hit and hit not in prof.courses:
                self._note(prof, "course", raw, hit, how)
                prof.courses.append(hit)
                prof.skills.extend(s for s in self.catalog.courses[hit].skills if s not in prof.skills)
        self._scan_skills(text, prof, exclude=[goal or "", job or ""])
        return prof

    def _first_resolving(self, patterns: list[str], text: str) -> str | None:
        """The first phrase the patterns capture that names a job ("I'm Maria" is passed over
        for "I'm a BI analyst"); the first phrase at all when none does, so it is reported."""
        phrases = _candidates(patterns, text)
        for phrase in phrases:
            if self.resolve("job", phrase)[0]:
                return phrase
        return phrases[0] if phrases else None

    def _scan_skills(self, text: str, prof: ResolvedProfile, exclude: list[str]) -> None:
        """Skills named anywhere in the text (exact names and aliases only, 1-4 word phrases)."""
        skip = {name_key(e) for e in exclude if e}
        words = name_key(text).split()
        for n in (4, 3, 2, 1):
            for i in range(len(words) - n + 1):
                phrase = " ".join(words[i : i + n])
                hit = self._skill_keys.get(phrase)
                if hit and hit not in prof.skills and not any(phrase in s for s in skip):
                    prof.skills.append(hit)
                    prof.matches.append(
                        {
                            "kind": "skill",
                            "raw": phrase,
                            "id": hit,
                            "name": self.catalog.skills[hit].name,
                            "how": "mention",
                        }
                    )


def _as_text(value) -> str | None:
    """A form value as text: None stays None, numbers and other scalars become their text."""
    return value if value is None or isinstance(value, str) else str(value)


def _as_items(values) -> list:
    """A list field from a form: None is no items, a single string or number is one item."""
    if values is None:
        return []
    if isinstance(values, (str, bytes, int, float)):
        return [values]
    return list(values)


def _candidates(patterns: list[str], text: str) -> list[str]:
    out = []
    for p in patterns:
        for m in re.finditer(p, text, re.I):
            x = _CUT.sub("", m.group("x")).strip(" '\"()")
            if x and x not in out:
                out.append(x)
    return out


def _all(patterns: list[str], text: str) -> list[str]:
    return [m.group("x") for p in patterns for m in re.finditer(p, text, re.I)]


def _without(text: str, patterns: list[str]) -> str:
    for p in patterns:
        text = re.sub(p, "", text, flags=re.I)
    return text
