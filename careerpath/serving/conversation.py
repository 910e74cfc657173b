"""The chat's conversation rules, as plain functions the demo's engine calls for each message.

- A message is first classified (:func:`classify`): empty, too long, a data request (show / delete
  my data), a reset ("start over"), a language other than English, or a message to resolve.
- A message that describes a person (:func:`describes_new_person`: "I'm a registered nurse and
  ...", "I work as a truck driver") when the profile already holds someone else starts a new
  profile; anything else updates the current one ("I already know statistics").
- After resolving, :func:`profile_changes` says what changed, so the answer can say which
  ("I've started a new profile for a registered nurse" or "Updated your profile: added
  Statistics").

Language detection is deliberately cheap: the share of a message's words that are common
function words ("the", "and", "y", "de", "und", ...) of each language, plus the share of
non-ASCII letters. The catalog and the models are English-only, so a message in another language
gets a reply saying so instead of a silent guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_MESSAGE_CHARS = 2000

# the most frequent function words; a word listed under two languages counts for neither
_STOP_WORDS = {
    "en": "i im i'm me my am is are was be been the a an and or but to of in on at for with from as "
    "that this it not no have has do does don't want would like know work working become about "
    "what how can will just also any some yet",
    "es": "yo soy estoy mi mis me el la los las un una unos y o pero de del en con por para que "
    "es son quiero ser trabajo como sé tengo hacer más muy también porque cuando",
    "fr": "je suis mon ma mes le la les un une des et ou mais de du en avec pour que est sont "
    "veux être travaille comme j'ai ai je suis aussi très parce quand",
    "de": "ich bin mein meine der die das ein eine und oder aber von zu mit für dass ist sind "
    "möchte werden arbeite als habe auch sehr weil wenn nicht",
    "pt": "eu sou estou meu minha o a os as um uma e ou mas de do da em com por para que é são "
    "quero ser trabalho como tenho também muito porque quando",
    "it": "io sono mio mia il lo la i gli le un una e o ma di del della in con per che è "
    "voglio essere lavoro come ho anche molto perché quando",
}
LANGUAGE_NAMES = {"es": "Spanish", "fr": "French", "de": "German", "pt": "Portuguese", "it": "Italian"}
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def _stop_word_table() -> dict[str, str]:
    seen: dict[str, set[str]] = {}
    for lang, words in _STOP_WORDS.items():
        for w in words.split():
            seen.setdefault(w, set()).add(lang)
    return {w: next(iter(langs)) for w, langs in seen.items() if len(langs) == 1}


_LANG_OF = _stop_word_table()

EXAMPLE = "I'm a data analyst, I know SQL and Excel, and I want to become a data scientist"

_RESET = re.compile(
    r"^\s*(?:start over|start again|restart|reset|new profile|clear(?: everything)?|forget (?:it|everything))\b",
    re.I,
)
_SHOW_DATA = re.compile(
    r"\b(?:show|see|what do you (?:keep|store|know)|download)\b.*\b(?:my data|about me)\b", re.I
)
_DELETE_DATA = re.compile(r"\b(?:delete|erase|remove|forget)\s+(?:all\s+)?(?:of\s+)?my data\b", re.I)
# "I'm a/an X", "I am a nurse", "I work as X", "my job is X": the person says who they are
_SELF = re.compile(
    r"\b(?:i am|i'm|im|i work as|i'm working as|i am working as|my (?:job|role|title|position) is)\s+"
    r"(?:now\s+|currently\s+)?(?:an?\s+|the\s+)(?P<x>[^.,;!?\n]+)|\bi work as\s+(?P<y>[^.,;!?\n]+)",
    re.I,
)


def detect_language(text: str) -> str:
    """ "en", a code from :data:`LANGUAGE_NAMES`, "other" (mostly non-Latin letters) or "" (too
    little text to tell)."""
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return ""
    letters = [c for c in text if c.isalpha()]
    non_ascii = sum(not c.isascii() for c in letters) / max(len(letters), 1)
    counts: dict[str, int] = {}
    for w in words:
        lang = _LANG_OF.get(w)
        if lang:
            counts[lang] = counts.get(lang, 0) + 1
    english = counts.pop("en", 0)
    if non_ascii > 0.5 and english == 0:
        return "other"
    if not counts:
        return "en" if english else ""
    best, n = max(counts.items(), key=lambda kv: kv[1])
    # two or more function words of one other language and more of them than English ones
    return best if n >= 2 and n > english else ("en" if english else "")


@dataclass
class Intent:
    """What a message asks for; ``text`` is the message with the command part removed."""

    kind: str  # "empty", "too_long", "delete_data", "show_data", "foreign", "profile"
    text: str
    reset: bool = False
    language: str = ""


def classify(message: str) -> Intent:
    """The first rule that applies, in the order the module docstring lists them."""
    if not message or not message.strip():
        return Intent("empty", "")
    if len(message) > MAX_MESSAGE_CHARS:
        return Intent("too_long", "")
    text = message.strip()
    if _DELETE_DATA.search(text):
        return Intent("delete_data", text)
    if _SHOW_DATA.search(text):
        return Intent("show_data", text)
    reset = bool(_RESET.search(text))
    if reset:
        text = _RESET.sub("", text).strip(" ,.;:!-")
    language = detect_language(text)
    if language not in ("", "en"):
        return Intent("foreign", text, reset, language)
    return Intent("profile", text, reset, language)


def self_description(text: str) -> str | None:
    """The job phrase of "I'm a ...", "I work as ...", "my job is a ...", or None."""
    m = _SELF.search(text)
    if not m:
        return None
    phrase = (m.group("x") or m.group("y") or "").strip()
    phrase = re.split(r"\s+(?:and|but|who|with|so|because|since|for|at)\b", phrase, maxsplit=1, flags=re.I)[0]
    return phrase.strip(" '\"()") or None


def describes_new_person(text: str, current_job: str | None, resolved_job: str | None) -> bool:
    """True when ``text`` says who the person is and that is not the profile's current job.

    ``resolved_job`` is the catalog id the self-description resolves to (None when it names no
    catalog job: "I am a truck driver" then starts a new profile with the job left unknown, rather
    than keeping the previous person's job)."""
    if self_description(text) is None:
        return False
    return resolved_job is None or resolved_job != current_job


def foreign_reply(language: str) -> str:
    name = LANGUAGE_NAMES.get(language, "a language other than English")
    return (
        f"This looks like {name}. The course catalog and the model only know English names of jobs, "
        f"skills and courses, so please write in English, e.g. *{EXAMPLE}*."
    )


def not_understood_reply() -> str:
    return (
        "I couldn't find a job, skill or course in that message, so I haven't changed your profile. "
        f"Try, for example: *{EXAMPLE}* (or *make it shorter*, *no courses from ...*, *start over*)."
    )


@dataclass
class Snapshot:
    """The parts of a profile a change note talks about."""

    job: str | None
    goal: str | None
    skills: tuple[str, ...]
    courses: tuple[str, ...]

    @classmethod
    def of(cls, prof) -> Snapshot:
        return cls(prof.job, prof.goal, tuple(prof.skills), tuple(prof.courses))


def profile_changes(before: Snapshot, after: Snapshot, names) -> list[str]:
    """Short phrases for what changed ("job Registered Nurse", "added Statistics");
    ``names(kind, id)`` gives display names."""
    out = []
    if after.job != before.job:
        out.append(f"job {names('job', after.job)}" if after.job else "job cleared")
    if after.goal != before.goal:
        out.append(f"goal {names('job', after.goal)}" if after.goal else "goal cleared")
    added = [s for s in after.skills if s not in before.skills]
    removed = [s for s in before.skills if s not in after.skills]
    if added:
        out.append("added " + ", ".join(names("skill", s) for s in added[:6]))
    if removed:
        out.append("removed " + ", ".join(names("skill", s) for s in removed[:6]))
    courses = [c for c in after.courses if c not in before.courses]
    if courses:
        out.append("courses taken: " + ", ".join(names("course", c) for c in courses[:4]))
    return out
