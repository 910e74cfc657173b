"""Readable text for recommendation results (the CLI table; the demo renders its own markdown)."""

from __future__ import annotations


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = (
        [max(len(str(x)) for x in col) for col in zip(headers, *rows)] if rows else [len(h) for h in headers]
    )
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def render_text(result: dict) -> str:
    prof = result["profile"]
    out = [
        f"profile: job={prof['job']['title'] if prof['job'] else '-'}  goal={prof['goal']['title'] if prof['goal'] else '-'}  "
        f"skills={', '.join(s['name'] for s in prof['skills']) or '-'}"
        + (
            " (assumed from the job: no skills were given; pass --skills to change them)"
            if prof.get("skills_assumed")
            else ""
        )
    ]
    out += [f"warning: {w}" for w in result.get("warnings", [])]
    courses = [
        [
            str(i + 1),
            c["title"],
            f"{c['probability']:.3f}",
            f"{c['hours']:g}h",
            ", ".join(c["skills_added"]) or "-",
            c["reason"],
        ]
        for i, c in enumerate(result["next_courses"])
    ]
    out += ["", "next courses", _table(["#", "course", "p", "hours", "adds", "why"], courses)]
    jobs = [
        [str(i + 1), j["title"], f"{j['probability']:.3f}", j["reason"]]
        for i, j in enumerate(result["next_jobs"])
    ]
    out += ["", f"next jobs (p(stay) = {result['p_stay']:.3f})", _table(["#", "job", "p", "why"], jobs)]
    path = result.get("pathway")
    if path:
        out += ["", f"pathway to {path['goal']['title']}: {path['note']}"]
        out += [f"missing: {m}" for m in path.get("missing") or []]
        for k, m in enumerate(path.get("milestones") or [], 1):
            end = f"move to {m['move_to']}" if m["move_to"] else "(no move yet)"
            took = "; ".join(m["courses"]) or "no course needed"
            out.append(f"milestone {k}: {took} -> {end} ({m['hours']:g} hours)")
        rows = []
        for i, s in enumerate(path["steps"]):
            what = ("take " if s["kind"] == "course" else "move to ") + s["title"]
            source = "" if s["source"] in ("model", "shortest plan") else f" [{s['source']}]"
            rows.append(
                [
                    str(i + 1),
                    what + (" (placeholder)" if s.get("placeholder") else ""),
                    ", ".join(s["skills_gained"]) or "-",
                    f"{s['goal_coverage']:.0%}",
                    f"{s['hours']:g}h" if s["hours"] else "-",
                    s["reason"] + source,
                ]
            )
        out.append(_table(["step", "what", "skills gained", "goal covered", "hours", "why"], rows))
    return "\n".join(out)
