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

from careerpath.core.catalog import Catalog
from careerpath.core.cleaning import clean_text, name_key
from careerpath.core.context import GapRetriever, add_context
from careerpath.core.textformat import Profile, serialise_input

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
# words that say nothing about which skill is meant: never a skill name, never "unknown skill"
STOP_WORDS = frozenset(
    """a an the any some my our your his her their few little bit lot lots of basic basics good strong
    solid great decent deep excellent skill skills experience knowledge background yet also already too
    as well very really quite just only still now currently i me we you it this that these those
    and or but with in on at for to from by about like some more most much many no not none nothing
    never don't dont do does did have has had having is are was were be been am can could would
    should will any yes ok okay please thanks thank hi hello well so then there here things stuff
    something anything everything lot years year months""".split()
)
_NEGATION = re.compile(
    r"\b(?:don't|dont|do not|doesn't|does not|haven't|have not|hasn't|never|no|not|without|lack|"
    r"can't|cannot|zero)\b",
    re.I,
)
_CLAUSE = re.compile(r"([.;!?\n,]+|\bbut\b|\band\b)", re.I)
_SKILLISH = frozenset({"skills", "skill", "experience", "background", "knowledge"})
_NO_SKILLS = re.compile(r"\b(?:any|no)\s+skills?\b", re.I)
# "I want to become better at SQL" is not a job
_NOT_A_JOB = re.compile(r"^(?:better|more|good|great|faster|able|familiar|proficient|comfortable)\b", re.I)
_CUT = re.compile(r"\s+(?:and|but|with|at|for|who|so|because|since|in order|from|to|by)\b.*$", re.I)
_TRAILING = re.compile(r"(?:\s+(?:instead|please|now|then|too|though|anyway|maybe))+\s*$", re.I)
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
    absent: list[str] = field(default_factory=list)
    """Skills the person said they do not have ("I don't have any programming skills yet"):
    never assumed from the job, removed from ``skills`` until they say they have them."""

    def add_skill(self, skill: str) -> bool:
        """Add one skill id (False when already held); it is no longer absent."""
        if skill in self.absent:
            self.absent.remove(skill)
        if skill in self.skills:
            return False
        self.skills.append(skill)
        return True

    def with_job_skills(self, catalog: Catalog) -> ResolvedProfile:
        """A copy holding the current job's required skills, most important first, when the
        profile names a job but no skills (nor courses that imply some); else ``self``.

        Someone who says "I'm a registered nurse" holds a nurse's skills. Without this, the model
        sees a nurse with no skills at all, which no training example has (synthetic people start
        with most of their job's skills), and every plan starts by re-learning the job."""
        if not self.job or self.skills:
            return self
        req = catalog.jobs[self.job].skills
        skills = [s for s in sorted(req, key=lambda s: -req[s]) if s not in self.absent]
        return replace(
            self,
            history=list(self.history),
            skills=skills,
            courses=list(self.courses),
            warnings=list(self.warnings),
            matches=list(self.matches),
            skills_assumed=bool(skills),
            absent=list(self.absent),
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
    """Resolves names to catalog ids; embeddings are the last resort for job titles and skills."""

    def __init__(
        self,
        catalog: Catalog,
        use_embeddings: bool = True,
        embed_threshold: float = 0.72,
        skill_embed_threshold: float = 0.8,
    ):
        self.catalog = catalog
        self.use_embeddings = use_embeddings
        self.embed_threshold = embed_threshold
        self.skill_embed_threshold = skill_embed_threshold
        self._vecs: dict[str, tuple] = {}
        self._skill_keys = self._phrase_table()
        self._categories = {name_key(s.category) for s in catalog.skills.values() if s.category}

    def _phrase_table(self) -> dict[str, str]:
        """Every exact name/alias key of a skill, for spotting skills anywhere in free text."""
        idx = self.catalog.skill_index
        table = {**idx._alias, **idx._exact}
        return {k: v for k, v in table.items() if len(k) >= 2 and not k.isdigit() and k not in STOP_WORDS}

    # -- single names ----------------------------------------------------------------------
    def _labels(self, kind: str) -> tuple[list[str], list[str]]:
        if kind == "job":
            pairs = [(t, j.id) for j in self.catalog.jobs.values() for t in (j.title, *j.alt_titles)]
        else:
            pairs = [(t, s.id) for s in self.catalog.skills.values() for t in (s.name, *s.aliases)]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def _embed(self, kind: str, raw: str) -> tuple[str | None, float]:
        """The catalog job or skill whose name is nearest to ``raw`` in sentence-embedding space,
        when the cosine similarity reaches the kind's threshold."""
        try:
            from careerpath.core.embeddings import Embedder
        except ImportError:  # pragma: no cover - torch is a dependency
            return None, 0.0
        threshold = self.embed_threshold if kind == "job" else self.skill_embed_threshold
        try:
            emb = Embedder()
            if kind not in self._vecs:
                labels, ids = self._labels(kind)
                self._vecs[kind] = (emb.embed(labels), ids)
            vecs, ids = self._vecs[kind]
            sims = vecs @ emb.embed([raw])[0]
        except Exception:  # embeddings are a best-effort extra; the other matchers already ran
            return None, 0.0
        best = int(np.argmax(sims))
        return (ids[best], float(sims[best])) if sims[best] >= threshold else (None, float(sims[best]))

    def _embed_job(self, raw: str) -> tuple[str | None, float]:
        return self._embed("job", raw)

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
        if hit is None and kind in ("job", "skill") and self.use_embeddings and looks_like_a_name(raw):
            hit, sim = self._embed(kind, raw)
            how = f"embedding:{sim:.2f}" if hit else ""
        return hit, how

    def _note(
        self, prof: ResolvedProfile, kind: str, raw: str, hit: str | None, how: str, label: str | None = None
    ) -> None:
        if hit:
            name = self.catalog.name(kind, hit)
            prof.matches.append({"kind": kind, "raw": raw, "id": hit, "name": name, "how": how})
            return
        index = {
            "job": self.catalog.job_index,
            "skill": self.catalog.skill_index,
            "course": self.catalog.course_index,
        }[kind]
        hint = index.suggest(raw)
        did = f" (did you mean {', '.join(repr(h) for h in hint)}?)" if hint else ""
        prof.warnings.append(f"unknown {label or kind} {raw[:60]!r}{did}")

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
        """Named fields -> profile. A job or goal given that names no catalog job is reported and
        leaves that field empty: the profile never keeps an earlier job or goal in its place."""
        prof = prof or ResolvedProfile()
        for raw, attr, label in ((job, "job", "job"), (goal, "goal", "goal job")):
            raw = _as_text(raw)
            if raw and clean_text(raw):
                hit, how = self.resolve("job", raw)
                self._note(prof, "job", raw, hit, how, label)
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
                if hit and kind == "skill":
                    prof.add_skill(hit)
                elif hit and hit not in getattr(prof, attr):
                    getattr(prof, attr).append(hit)
        # courses taken imply their skills
        for c in prof.courses:
            for s in self.catalog.courses[c].skills:
                prof.add_skill(s)
        return prof

    def from_text(self, text: str, prof: ResolvedProfile | None = None) -> ResolvedProfile:
        """Free text -> profile; ``prof`` is updated in place when given (chat follow-ups).

        Clauses with a negation ("I don't have any programming skills yet") say which skills the
        person lacks (:meth:`_lacking`); the others name the job, goal, skills and courses. Only
        phrases that look like skill names are matched (:func:`looks_like_a_name`): ordinary
        words ("yet", "any") are neither matched nor reported."""
        if not isinstance(text, str):
            raise TypeError(f"profile text must be a string, got {type(text).__name__}")
        prof = prof or ResolvedProfile()
        if len(text) > MAX_TEXT_CHARS:
            prof.warnings.append(f"text cut to its first {MAX_TEXT_CHARS} characters")
            text = text[:MAX_TEXT_CHARS]
        text = clean_text(text)
        parts = _CLAUSE.split(text)  # clauses, with the separators between them kept
        negated = [p for p in parts[::2] if _NEGATION.search(p)]
        text = "".join(" " if i % 2 == 0 and _NEGATION.search(p) else p for i, p in enumerate(parts))
        goal = self._first_resolving(_GOAL, text)
        if goal and _NOT_A_JOB.match(goal):
            goal = None
        job = self._first_resolving(_JOB, _without(text, _GOAL))
        self._set_job(prof, job, "job", clear_unknown=False)
        self._set_job(prof, goal, "goal", clear_unknown=True)
        for raw in _skill_phrases(text):
            hit, how = self.resolve("skill", raw)
            if hit is None and len(raw.split()) > 3:
                continue  # a clause, not a skill name: the phrase scan below picks up what it names
            self._note(prof, "skill", raw, hit, how)
            if hit:
                prof.add_skill(hit)
        courses = [
            c for m in _all(_COURSES, text) for c in re.split(r"\s*(?:;|,|\band\b)\s*", m) if c.strip()
        ]
        for raw in courses[:MAX_ITEMS]:
            hit, how = self.resolve("course", raw)
            if hit and hit not in prof.courses:
                self._note(prof, "course", raw, hit, how)
                prof.courses.append(hit)
                for s in self.catalog.courses[hit].skills:
                    prof.add_skill(s)
        self._scan_skills(text, prof, exclude=[goal or "", job or ""])
        for clause in negated:
            self._lacking(clause, prof)
        return prof

    def _set_job(self, prof: ResolvedProfile, raw: str | None, attr: str, clear_unknown: bool) -> None:
        """Resolve the job or goal phrase; an unknown one is reported and, with ``clear_unknown``,
        empties the field rather than leaving an earlier value in place."""
        if not raw or not clean_text(raw):
            return
        hit, how = self.resolve("job", raw)
        self._note(prof, "job", raw, hit, how, "job" if attr == "job" else "goal job")
        if hit or clear_unknown:
            setattr(prof, attr, hit)

    def _lacking(self, clause: str, prof: ResolvedProfile) -> None:
        """Skills a negated clause says the person lacks: named skills ("no Python"), a category
        ("no programming skills": every skill of that category) or all ("no skills at all")."""
        keys = name_key(clause).split()
        named = self._skills_named(keys)
        categories = [
            k for i, k in enumerate(keys[:-1]) if k in self._categories and keys[i + 1] in _SKILLISH
        ]
        lacking = list(named)
        for cat in categories:
            lacking += [s.id for s in self.catalog.skills.values() if name_key(s.category) == cat]
        if not lacking and _NO_SKILLS.search(clause):  # "I don't have any skills yet"
            lacking = list(self.catalog.skills)
        said = [*(self.catalog.name("skill", s) for s in named), *(f"{c} skills" for c in categories)]
        if not lacking:
            return
        for s in dict.fromkeys(lacking):
            if s in prof.skills:
                prof.skills.remove(s)
            if s not in prof.absent:
                prof.absent.append(s)
        prof.matches.append(
            {
                "kind": "skill",
                "raw": clause[:80],
                "id": lacking[0],
                "name": ", ".join(said) or "any skills",
                "how": "absent",
            }
        )

    def _skills_named(self, words: list[str]) -> list[str]:
        """Skill ids named by exact names or aliases in a run of 1-4 words, longest first."""
        found: list[str] = []
        used: set[int] = set()
        for n in (4, 3, 2, 1):
            for i in range(len(words) - n + 1):
                if used & set(range(i, i + n)):
                    continue
                hit = self._skill_keys.get(" ".join(words[i : i + n]))
                if hit:
                    used |= set(range(i, i + n))
                    if hit not in found:
                        found.append(hit)
        return found

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
                    prof.add_skill(hit)
                    prof.matches.append(
                        {
                            "kind": "skill",
                            "raw": phrase,
                            "id": hit,
                            "name": self.catalog.skills[hit].name,
                            "how": "mention",
                        }
                    )


def looks_like_a_name(phrase: str) -> bool:
    """1-4 words, at least one of them not a :data:`STOP_WORDS` word: "yet", "any" and "a bit"
    are never skill or job names, so they are neither matched nor reported as unknown."""
    words = name_key(phrase).split()
    return 0 < len(words) <= 4 and any(w not in STOP_WORDS for w in words)


def _skill_phrases(text: str) -> list[str]:
    """Skill-name candidates after "I know", "skills:", "experience with" ...: each list item
    with leading and trailing filler words ("any", "some", "skills", "yet") removed."""
    out = []
    for m in _all(_SKILLS, text):
        for item in _SPLIT.split(m):
            words = clean_text(item).split()
            while words and name_key(words[0]) in STOP_WORDS:
                words.pop(0)
            while words and name_key(words[-1]) in STOP_WORDS:
                words.pop()
            phrase = " ".join(words).strip(" '\"()")
            if phrase and (looks_like_a_name(phrase) or len(words) > 4):
                out.append(phrase)
    return out[:MAX_ITEMS]


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
            x = _TRAILING.sub("", _CUT.sub("", m.group("x"))).strip(" '\"()")
            if x and x not in out:
                out.append(x)
    return out


def _all(patterns: list[str], text: str) -> list[str]:
    return [m.group("x") for p in patterns for m in re.finditer(p, text, re.I)]


def _without(text: str, patterns: list[str]) -> str:
    for p in patterns:
        text = re.sub(p, "", text, flags=re.I)
    return text
