"""The report of ``careerpath evaluate``: ``report.md`` rendered from the ``metrics.json`` dict
(so it can be re-rendered without re-scoring), the side-by-side ranking table, and the two plots
(``hit_at_k.png``, ``by_family.png``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from careerpath.eval import plots
from careerpath.eval.evaluation_methods import LABELS, ORACLES


def write_plots(m: dict, out_dir: Path) -> None:
    """``hit_at_k.png`` (next-course Hit@k of every method, the oracle from the text dashed) and ``by_family.png``."""
    curves = {LABELS["model"]: m["model"]["curves"]["next_course"]}
    curves.update({LABELS[n]: r["curves"]["next_course"] for n, r in m["baselines"].items()})
    tk = m["oracle"].get("oracle_traits_known")
    if tk:
        curves[LABELS["oracle_traits_known"]] = tk["curves"]["next_course"]
    vis = m["oracle"].get("oracle")
    plots.plot_hit_at_k(
        {k: [np.nan if x is None else x for x in v] for k, v in curves.items()},
        out_dir / "hit_at_k.png",
        title=f"Next course: Hit@k over the full catalog ({m['split']}, n={m['n']})",
        ceiling=vis["curves"]["next_course"] if vis else None,
    )
    values = m["bias"].get("course_hit@10_by_start_family") or {}
    groups = (m["bias"].get("by_start_family") or {}).get("groups", {})
    plots.plot_group_bars(
        {LABELS.get(k, k): {g: np.nan if x is None else x for g, x in v.items()} for k, v in values.items()},
        out_dir / "by_family.png",
        metric="Hit@10",
        title="Next course Hit@10 by starting job family",
        counts={g: v["n"] for g, v in groups.items()},
    )


# -- the report ----------------------------------------------------------------------------------
def fmt(x, digits: int = 3) -> str:
    """``x`` to ``digits`` decimals; a dash for a missing or non-finite value."""
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def _method_rows(m: dict) -> list[tuple[str, dict]]:
    out = [(LABELS["model"], m["model"])]
    out += [(LABELS.get(n, n), r) for n, r in m["baselines"].items()]
    out += [(LABELS[n], m["oracle"][n]) for n in ORACLES if m["oracle"].get(n)]
    return out


def main_table(m: dict) -> str:
    """The side-by-side ranking table (markdown) of every method."""
    head = (
        "| method | course Acc@1 | course Hit@10 | course MRR | course log-loss | job Acc@1 | job log-loss "
        "| move timing AUC | move destination Acc@1 | move destination Hit@10 |"
    )
    lines = [head, "|" + "---|" * 10]
    for label, r in _method_rows(m):
        c, j = r["next_course"], r["next_job"]
        t, d = r.get("move_timing") or {}, r.get("move_destination") or {}
        lines.append(
            f"| {label} | {fmt(c['acc@1'])} | {fmt(c['hit@10'])} | {fmt(c['mrr'])} | {fmt(c['log_loss'])} | "
            f"{fmt(j['acc@1'])} | {fmt(j['log_loss'])} | {fmt(t.get('auc'))} | {fmt(d.get('acc@1'))} | "
            f"{fmt(d.get('hit@10'))} |"
        )
    return "\n".join(lines)


def paired_lines(m: dict) -> list[str]:
    """The model against its priors alone, row by row, with user-clustered 95% intervals."""
    pv = m.get("model_vs_priors") or {}
    if not pv:
        return []
    out = ["**Model with its priors minus the priors alone** (same rows; 95% intervals resampling users):"]
    for section, name in (("next_course", "next course"), ("next_job", "next job")):
        if section in pv:
            a, ll = pv[section]["acc@1"], pv[section]["log_loss"]
            out.append(
                f"{name} Acc@1 {a['mean']:+.4f} [{a['lo']:+.4f}, {a['hi']:+.4f}], "
                f"log-loss {ll['mean']:+.4f} [{ll['lo']:+.4f}, {ll['hi']:+.4f}]."
            )
    return [" ".join(out), ""]


def _ranking_section(m: dict) -> list[str]:
    """Title, what was evaluated, the ranking table, the paired comparison and the ceiling."""
    mc = m["model"]["next_course"]
    n_moves = m["model"]["next_job_moves"]["n"]
    parts = [
        f"# careerpath evaluation: `{m['model_dir']}`",
        "",
        f"Split **{m['split']}** of `{m['data_dir']}`: {m['n']} examples"
        + (f" (sampled from {m['n_split']})" if m.get("n_split") and m["n_split"] != m["n"] else "")
        + f", {mc['n']} with a next course, {n_moves} job moves. Every method ranks the full catalog "
        f"({m['catalog']['courses']} courses, {m['catalog']['jobs']} jobs + stay); courses already taken are "
        "hidden; ties count against the method.",
        "",
        "## Ranking",
        "",
        main_table(m),
        "",
    ]
    r = m["ratio_to_ceiling"]
    parts += paired_lines(m)
    parts += [
        "**Model / ceiling** (Acc@1 over the oracle from the text): "
        f"next course {fmt(r['next_course'])}, next job {fmt(r['next_job'])}, next job on moves "
        f"{fmt(r['next_job_moves'])}.",
        "",
    ]
    st = m["oracle"].get("stats") or {}
    if st.get("visible"):
        v, tk = st["visible"], st.get("traits_known") or {}
        parts += [
            f"Ceiling stated by the dataset build (`stats.json`, {m['split']}, whole split): from the text next course "
            f"{fmt(v.get('next_course'), 4)}, next job {fmt(v.get('next_job'), 4)}, moves "
            f"{fmt(v.get('next_job_moves'), 4)}; traits known next course {fmt(tk.get('next_course'), 4)}, next job "
            f"{fmt(tk.get('next_job'), 4)}, moves {fmt(tk.get('next_job_moves'), 4)}.",
            "",
        ]
    return parts


def _generation_section(m: dict) -> list[str]:
    """The model's generation quality (BLEU, exact match, skills P/R/F1, validity)."""
    g = m["model"].get("generation") or {}
    parts = ["## Generation (model)", ""]
    if g.get("skipped") or not g.get("n"):
        parts += ["Skipped.", ""]
    else:
        sg, val = g["skills_gained"], g["validity"]
        parts += [
            "| n | BLEU | exact match | skills P | skills R | skills F1 | valid course | valid job | course acc | "
            "job acc |",
            "|" + "---|" * 10,
            f"| {g['n']} | {fmt(g['bleu'], 1)} | {fmt(g['exact_match'])} | {fmt(sg['precision'])} | {fmt(sg['recall'])} "
            f"| {fmt(sg['f1'])} | {fmt(val['next_course'])} | {fmt(val['next_job'])} | {fmt(g['next_course_acc'])} | "
            f"{fmt(g['next_job_acc'])} |",
            "",
            "Validity: share of generated next course / next job names that are real catalog titles ('stay' is a "
            "valid job; a generation without a `next_job:` field is not). Ranking above does not depend on "
            "generation: it scores every catalog item.",
            "",
        ]
    return parts


def _group_section(b: dict) -> list[str]:
    """The model's metrics by start family and by start level, with the largest gap."""
    parts: list[str] = []
    for key in ("start_family", "start_level"):
        gm = b.get(f"by_{key}")
        if not gm:
            continue
        parts += [
            f"### By {key.replace('_', ' ')} (model)",
            "",
            "| group | n | course Acc@1 | course Hit@10 | job Acc@1 | job Hit@10 | move Acc@1 | move Hit@10 |",
            "|" + "---|" * 8,
        ]
        for grp, v in gm["groups"].items():
            parts.append(
                f"| {grp} | {v['n']} | {fmt(v['course_acc@1'])} | {fmt(v['course_hit@10'])} | "
                f"{fmt(v['job_acc@1'])} | {fmt(v['job_hit@10'])} | {fmt(v['move_acc@1'])} | "
                f"{fmt(v['move_hit@10'])} |"
            )
        lg = gm["largest_gap"]
        parts += [
            "",
            f"Largest gap: {lg['metric']} {fmt(lg['gap'])} ({lg['best_group']} vs {lg['worst_group']})"
            if lg.get("metric")
            else "Largest gap: none (fewer than two groups large enough to compare).",
            "",
        ]
    return parts


def _goal_reach_section(b: dict) -> list[str]:
    """Goal reach of the model's pathways and the skill-gap rule's, overall and by group."""
    parts: list[str] = []
    gr = b.get("goal_reach") or {}
    if gr.get("skipped"):
        parts += ["Goal reach: skipped (`--no-bias`).", ""]
    elif gr:
        parts += [
            f"### Goal reach ({gr['n_users']} users, first row each; "
            f"{gr.get('n_unreachable', 0)} goals no plan reaches left out"
            + (f"; at most {gr['max_steps']} course steps" if gr.get("max_steps") else "")
            + ")",
            "",
            f"Reached: {fmt(gr['rate'])} (every course the model's own choice: {fmt(gr['rate_model_only'])}).",
            "",
            "| plan | goal reach | hours / shortest (mean) | worst | course steps | hours |",
            "|---|---|---|---|---|---|",
            *(
                f"| {name} | {fmt(v['reach'])} | {fmt(v['hours_ratio'])} | {fmt(v['max_hours_ratio'])} | "
                f"{fmt(v['steps'])} | {fmt(v['hours'])} |"
                for name, v in (gr.get("plans") or {}).items()
            ),
            "",
        ]
        for key in ("start_family", "start_level"):
            grp = gr.get(f"by_{key}")
            if grp:
                mo = gr.get(f"by_{key}_model_only", {}).get("groups", {})
                cells = ", ".join(
                    f"{k} {fmt(v['rate'])} / {fmt(mo.get(k, {}).get('rate'))} (n={v['n']})"
                    for k, v in grp["groups"].items()
                )
                parts += [
                    f"- by {key.replace('_', ' ')} (reached / model only): {cells}; gap {fmt(grp['gap'])}"
                ]
        parts.append("")
    return parts


def _concentration_section(b: dict) -> list[str]:
    """Coverage and Gini of every method's top-10 lists, and counterfactual stability."""
    parts = [
        "### Concentration of the top-10 course lists",
        "",
        "| method | coverage@10 | gini@10 |",
        "|---|---|---|",
    ]
    for name, c in (b.get("concentration") or {}).items():
        parts.append(f"| {LABELS.get(name, name)} | {fmt(c['coverage@10'])} | {fmt(c['gini@10'])} |")
    parts.append("")
    cf = b.get("counterfactual") or {}
    if cf.get("skipped"):
        parts += ["Counterfactual stability: skipped (`--no-bias`).", ""]
    elif cf:
        parts += [
            f"Counterfactual stability (name, pronoun and age added to the text; {cf['n']} rows, "
            f"{cf['variants']} variants): top-10 unchanged for {fmt(cf['stability'])} of rows (courses "
            f"{fmt(cf.get('course_top10_unchanged'))}, jobs {fmt(cf.get('job_top10_unchanged'))}).",
            "",
        ]
    return parts


def render_report(m: dict) -> str:
    """``report.md`` from a ``metrics.json`` dict (so the report can be re-rendered without re-scoring)."""
    b = m["bias"]
    parts = _ranking_section(m) + _generation_section(m) + ["## Bias", ""]
    parts += _group_section(b) + _goal_reach_section(b) + _concentration_section(b)
    parts += ["![Hit@k](hit_at_k.png)", "", "![By family](by_family.png)", ""]
    return "\n".join(parts)
