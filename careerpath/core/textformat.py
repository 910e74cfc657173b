"""The one text format of careerpath: serialise and parse model inputs and targets.

Input (what is known now)::

    goal: Machine Learning Engineer | job: Data Analyst | history: Junior Data Analyst > Data Analyst
    | skills: Python, SQL | courses: Intro to Data Analysis; Intermediate Python

With catalog context (``careerpath/core/context.py``; datasets built since the context exist) the
input also carries the next job on the route to the goal and the candidate courses::

    ... | next_step: Machine Learning Engineer | best: Advanced Machine Learning
    | options: MLOps Foundations; Deep Learning | ready_after: Advanced Machine Learning

Target (what happens next)::

    next_course: Advanced Machine Learning | skills_gained: Machine Learning, Model Evaluation | next_job: stay

Every other part of the project (dataset building, training, evaluation, serving) goes through
this module, so the format is defined exactly once. ``parse(serialise(x)) == x`` holds for every
record whose values are *clean* (see :func:`check_value`); the separators ``| > , ;`` and the
backslash are escaped inside values, so names such as "CI/CD, Jenkins" survive a round trip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

STAY = "stay"
INPUT_FIELDS = ("goal", "job", "history", "skills", "courses")
CONTEXT_FIELDS = ("next_step", "best", "options", "ready_after")  # only in inputs with catalog context
TARGET_FIELDS = ("next_course", "skills_gained", "next_job")
# field name -> separator between list items (None: a single value)
_LIST_SEP = {
    "goal": None,
    "job": None,
    "history": ">",
    "skills": ",",
    "courses": ";",
    "next_step": None,
    "best": ";",
    "options": ";",
    "ready_after": ";",
    "next_course": None,
    "skills_gained": ",",
    "next_job": None,
}
_SPECIAL = re.compile(r"([\\|>,;])")
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f]")
MAX_VALUE_CHARS = 200


class FormatError(ValueError):
    """A value or a text that does not follow the careerpath text format."""


@dataclass
class Profile:
    """What is known about a person now: the model's input."""

    goal: str = ""
    job: str = ""
    history: list[str] = field(default_factory=list)
    skills: list[str] = field(default_factory=list)
    courses: list[str] = field(default_factory=list)
    # catalog context (careerpath/core/context.py), serialised only when ``context`` is true
    context: bool = False
    next_step: str = ""
    best: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    ready_after: list[str] = field(default_factory=list)


@dataclass
class Step:
    """What happens next: the model's target. ``next_job`` is ``"stay"`` when there is no move."""

    next_course: str = ""
    skills_gained: list[str] = field(default_factory=list)
    next_job: str = STAY


def check_value(value: str, where: str) -> str:
    """Return ``value`` if it can be serialised, else raise a :class:`FormatError` naming ``where``."""
    if not isinstance(value, str):
        raise FormatError(f"{where}: expected a string, got {type(value).__name__}")
    if not value:
        raise FormatError(f"{where}: empty value; leave the item out instead")
    if value != value.strip() or "  " in value:
        raise FormatError(f"{where}: {value!r} has leading, trailing or repeated spaces; normalise it")
    if _BAD_CHARS.search(value):
        raise FormatError(f"{where}: {value!r} contains control characters or newlines")
    if len(value) > MAX_VALUE_CHARS:
        raise FormatError(f"{where}: value longer than {MAX_VALUE_CHARS} characters")
    return value


def _escape(value: str) -> str:
    return _SPECIAL.sub(r"\\\1", value)


_CHECKED: dict[str, str] = {}
"""Valid values seen -> their escaped text: catalog names recur in every input a pathway's
planning serialises (about 2.5% of a recommend + pathway, checked and escaped each time)."""
_CHECKED_MAX = 50_000


def _checked(value: str, name: str, index: int | None = None) -> str:
    """``_escape(check_value(value, where))`` (``where``: ``name``, or ``name[index]`` in a list),
    remembered for valid strings: an invalid value raises every time, as it did."""
    if type(value) is str:
        out = _CHECKED.get(value)
        if out is not None:
            return out
    out = _escape(check_value(value, name if index is None else f"{name}[{index}]"))
    if len(_CHECKED) >= _CHECKED_MAX:
        _CHECKED.clear()
    _CHECKED[value] = out
    return out


def _split_unescaped(text: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is not escaped (parts keep their escapes; callers unescape)."""
    if "\\" not in text:  # nothing escaped: a plain split gives the same parts
        return text.split(sep)
    parts, buf, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _serialise_fields(obj, names: tuple[str, ...]) -> str:
    out = []
    for name in names:
        value = getattr(obj, name)
        sep = _LIST_SEP[name]
        if sep is None:
            text = _checked(value, name) if value else ""
        else:
            if not isinstance(value, (list, tuple)):
                raise FormatError(f"{name}: expected a list of strings, got {type(value).__name__}")
            items = [_checked(v, name, i) for i, v in enumerate(value)]
            text = f"{sep} ".join(items) if sep != ">" else " > ".join(items)
        out.append(f"{name}: {text}" if text else f"{name}:")
    return " | ".join(out)


def _parse_fields(text: str, names: tuple[str, ...], strict: bool) -> dict:
    if not isinstance(text, str):
        raise FormatError(f"expected a string, got {type(text).__name__}")
    values: dict = {}
    for chunk in _split_unescaped(text, "|"):
        chunk = chunk.strip()
        if not chunk:
            continue
        key, colon, rest = chunk.partition(":")
        key = key.strip()
        if not colon or key not in names:
            if strict:
                raise FormatError(
                    f"unknown or malformed field {chunk[:40]!r}; expected one of {', '.join(names)}"
                )
            continue
        if key in values and strict:
            raise FormatError(f"field {key!r} appears twice")
        rest = rest.strip()
        sep = _LIST_SEP[key]
        if sep is None:
            values[key] = _unescape(rest)
        else:
            items = [p.strip() for p in _split_unescaped(rest, sep)] if rest else []
            values[key] = [_unescape(p) for p in items if p]
    return values


def serialise_input(profile: Profile) -> str:
    """``Profile`` -> ``"goal: ... | job: ... | history: ... | skills: ... | courses: ..."``, then
    ``" | next_step: ... | best: ... | options: ... | ready_after: ..."`` when ``profile.context``."""
    names = INPUT_FIELDS + CONTEXT_FIELDS if profile.context else INPUT_FIELDS
    return _serialise_fields(profile, names)


def serialise_target(step: Step) -> str:
    """``Step`` -> ``"next_course: ... | skills_gained: ... | next_job: ..."``."""
    return _serialise_fields(step, TARGET_FIELDS)


def parse_input(text: str, strict: bool = True) -> Profile:
    """Inverse of :func:`serialise_input`. ``strict=False`` skips unknown fields instead of raising."""
    values = _parse_fields(text, INPUT_FIELDS + CONTEXT_FIELDS, strict)
    return Profile(**values, context=any(k in values for k in CONTEXT_FIELDS))


def parse_target(text: str, strict: bool = False) -> Step:
    """Inverse of :func:`serialise_target`; lenient by default since it reads model generations."""
    values = _parse_fields(text, TARGET_FIELDS, strict)
    if not values.get("next_job"):
        values["next_job"] = STAY
    return Step(**values)
