"""``careerpath recommend``: its flags, and the next courses, jobs and pathway for one profile. The
recommender is imported inside the handler so ``careerpath --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json

from careerpath.core.cli_common import add_command, add_json_flag, require_model, require_path


def add_recommend_command(sub) -> argparse.ArgumentParser:
    """Add ``careerpath recommend`` to ``sub``."""
    rec = add_command(sub, "recommend", "next courses and jobs and a pathway to a goal, for one profile")
    rec.add_argument("--model", default="outputs/tiny_t5", help="trained model folder (full or LoRA adapter)")
    rec.add_argument("--catalog", default=None, help="catalog folder (default: the one saved with the model)")
    rec.add_argument(
        "--text", default=None, help='free-text profile, e.g. "I am a data analyst, I know SQL ..."'
    )
    rec.add_argument("--job", default=None, help="current job title")
    rec.add_argument("--skills", default=None, help="comma-separated skills")
    rec.add_argument("--courses", default=None, help="comma-separated courses already taken")
    rec.add_argument("--goal", default=None, help="target job title")
    rec.add_argument("--top-k", type=int, default=10, help="how many courses and jobs to list")
    rec.add_argument(
        "--max-steps", type=int, default=None, help="a budget of course steps for the pathway (default: none)"
    )
    rec.add_argument(
        "--budget-hours", type=float, default=None, help="a budget of course hours for the pathway"
    )
    rec.add_argument(
        "--budget-months", type=float, default=None, help="a budget in months (at 20 study hours a month)"
    )
    rec.add_argument(
        "--planner",
        default="model",
        choices=["model", "shortest", "skill-gap"],
        help="model: the model's choices within 1.2x the shortest plan's hours (default); shortest; "
        "skill-gap: the greedy skill-gap rule",
    )
    rec.add_argument("--exclude", default=None, help="comma-separated course ids or titles to leave out")
    rec.add_argument("--exclude-provider", default=None, help="comma-separated providers to leave out")
    rec.add_argument("--max-hours", type=float, default=None, help="longest course allowed, in hours")
    rec.add_argument("--max-level", type=int, default=None, help="highest course level allowed (1-3)")
    rec.add_argument(
        "--no-embeddings", action="store_true", help="resolve titles without sentence embeddings"
    )
    rec.add_argument(
        "--no-assume-skills",
        action="store_true",
        help="with a job but no skills given, do not assume the job's required skills are held",
    )
    rec.add_argument(
        "--demand-weight",
        type=float,
        default=0.0,
        help="favour in-demand jobs and skills (catalogs with demand weights, e.g. O*NET); try 1.0",
    )
    rec.add_argument(
        "--diversify", action="store_true", help="spread top courses over course clusters (data cluster)"
    )
    add_json_flag(rec)
    rec.set_defaults(func=_recommend)
    return rec


def _recommend(args: argparse.Namespace) -> int:
    from careerpath.serving.planner_state import Budget
    from careerpath.serving.recommend import Constraints, Recommender

    require_model(args.model)
    if args.catalog is not None:
        require_path(args.catalog, "--catalog", "dir", hint="give a catalog folder (CSV/JSON)")
    rec = Recommender.from_pretrained(
        args.model,
        catalog_dir=args.catalog,
        use_embeddings=not args.no_embeddings,
        assume_job_skills=not args.no_assume_skills,
    )
    split = lambda v: [x.strip() for x in (v or "").split(",") if x.strip()]  # noqa: E731
    if args.text:
        profile = rec.resolve(text=args.text, goal=args.goal)
    else:
        profile = rec.resolve(
            {"job": args.job, "skills": split(args.skills), "courses": split(args.courses)}, goal=args.goal
        )
    cons = Constraints(split(args.exclude), split(args.exclude_provider), args.max_hours, args.max_level)
    result = rec.recommend(
        profile,
        top_k=args.top_k,
        constraints=cons,
        diversify=args.diversify,
        demand_weight=args.demand_weight,
    )
    budget = Budget(hours=args.budget_hours, months=args.budget_months)
    path = (
        rec.pathway(profile, max_steps=args.max_steps, constraints=cons, budget=budget, planner=args.planner)
        if profile.goal
        else None
    )
    result["pathway"] = path.as_dict() if path else None
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        from careerpath.serving.render import render_text

        print(render_text(result))
    return 0
