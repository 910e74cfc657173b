"""The demo's answers as markdown: every catalog or user string escaped (:func:`escape`), the plan
first (a phone shows the top of an answer), then the profile line, next courses and next jobs; and
the person's own message as an escaped chat bubble (:func:`user_bubble`)."""

from __future__ import annotations

import html
import re

from careerpath.serving.conversation import MAX_MESSAGE_CHARS

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$])")


def escape(text: str) -> str:
    """User or catalog text made inert in the chat's markdown: no HTML, no markdown syntax."""
    text = _MD_SPECIAL.sub(r"\\\1", str(text).replace("\n", " "))
    return html.escape(text, quote=False)


def user_bubble(text: str) -> dict:
    """The person's message as they typed it: escaped, so markdown and HTML show as text."""
    return {"role": "user", "content": escape(text[:MAX_MESSAGE_CHARS]) or " "}


def article(title: str) -> str:
    """ "a" or "an" before ``title``."""
    return "an" if title[:1].lower() in "aeiou" else "a"


def warn_lines(warnings: list[str]) -> list[str]:
    return [f"**Note:** {escape(w)}" for w in warnings[:6]]


def render_answer(
    result: dict,
    path: dict | None,
    notes: list[str],
    warnings: list[str],
    similar: tuple | None = None,
    tradeoff: str | None = None,
    unknown_job: str | None = None,
) -> str:
    """Markdown for one answer, the plan first (a phone shows the top of an answer): notes, the
    pathway, the trade-off, the profile line, next courses, similar courses, next jobs. Every
    catalog or user string goes through :func:`escape`; no line is said twice."""
    lines = list(notes) + warn_lines(warnings)
    lines += _pathway_lines(path)
    if tradeoff:
        lines.append(tradeoff)
    lines.append(_profile_line(result["profile"], unknown_job))
    if not result["profile"]["goal"]:
        lines.append("Say which job you want (*I want to become ...*) and I'll plan a pathway to it.")
    if result["next_courses"]:
        lines.append("**Top next courses**")
        for c in result["next_courses"][:5]:
            adds = ", ".join(escape(x) for x in c["skills_added"][:4])
            what = f"adds {adds}" if adds else "revision"
            lines.append(
                f"- **{escape(c['title'])}** ({escape(c['provider'])}, {c['hours']:g} h): {what}{_why(c['reason'])}"
            )
    if similar:
        lines.append(f"**Similar to {escape(similar[0])}**: " + ", ".join(escape(t) for t in similar[1]))
    if result["next_jobs"]:
        goal = result["profile"]["goal"]
        lines.append(
            f"**Next job options** (towards {escape(goal['title'])})" if goal else "**Next job options**"
        )
        for j in result["next_jobs"][:3]:
            chance = f" ({j['probability']:.0%})" if j["probability"] else ""
            lines.append(f"- **{escape(j['title'])}**{chance}: {escape(j['reason'])}")
    lines.append(
        "_Rate this answer with the thumbs up or down below it: it helps improve the recommendations._"
    )
    return "\n\n".join(dict.fromkeys(lines))


def _pathway_lines(path: dict | None) -> list[str]:
    if not path or not path["goal"]:
        return []
    head = f"**Pathway to {escape(path['goal']['title'])}**: {escape(path['note'])}"
    if path["steps"]:
        head += f"; {len(path['steps'])} step(s), {path['total_hours']:g} hours of courses"
    lines = [head]
    for i, s in enumerate(path["steps"], 1):
        if s["kind"] == "course":
            c = f" from {escape(s['provider'])}" if s.get("provider") else ""
            gained = ", ".join(escape(x) for x in s["skills_gained"]) or "nothing new"
            lines.append(
                f"{i}\\. Take **{escape(s['title'])}**{c} ({s['hours']:g} h). Gains: {gained}{_why(s['reason'])}. "
                f"Goal covered: {s['goal_coverage']:.0%}"
            )
        else:
            lines.append(f"{i}\\. Move to **{escape(s['title'])}**. Why: {escape(s['reason'])}")
    return lines


def _why(reason: str) -> str:
    """The part of a course's reason that the skills it adds do not already say: "covers Git,
    needed for your goal X" after "adds Git" becomes ", needed for your goal X"; a plain "adds
    ..." reason says nothing more. What follows a ";" (e.g. "first learn Python") is kept."""
    head, _, tail = reason.partition("; ")
    if head.startswith("covers ") and ", needed for " in head:
        head = "needed for " + head.split(", needed for ", 1)[1]
    elif head.startswith(("adds ", "revises ")):
        head = ""
    parts = [p for p in (head, tail) if p]
    return ", " + escape("; ".join(parts)) if parts else ""


def _profile_line(prof: dict, unknown_job: str | None) -> str:
    skills = [s["name"] for s in prof["skills"]]
    shown = ", ".join(escape(s) for s in skills[:10]) + (
        f" and {len(skills) - 10} more" if len(skills) > 10 else ""
    )
    if prof["job"]:
        job = escape(prof["job"]["title"])
    elif unknown_job:
        job = f"(not in the catalog: {escape(unknown_job)})"
    else:
        job = "(not given)"
    assumed = (
        " (assumed from your job; tell me your skills to change them)" if prof.get("skills_assumed") else ""
    )
    return (
        f"**Your profile**: job {job} · "
        f"goal {escape(prof['goal']['title']) if prof['goal'] else '(not given)'} · "
        f"skills {shown or '(none yet)'}{assumed}"
    )
