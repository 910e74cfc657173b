"""Goal reach, hours against the shortest plan and course steps of planned pathways, for the model's
plans and the skill-gap rule's, on the evaluation's pathway set (each test user's first row):

    python scripts/measure_pathways.py --model outputs/tiny_t5 --data outputs/data [--users 60]

The same numbers as ``careerpath evaluate``'s goal-reach section, without the rest of the evaluation.
"""

from __future__ import annotations

import argparse
import json
import time

from careerpath.eval.baselines import load_split
from careerpath.eval.evaluation_bias import goal_reach
from careerpath.serving.recommend import Recommender


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="trained model folder")
    p.add_argument("--data", required=True, help="dataset folder (its test split)")
    p.add_argument("--split", default="test")
    p.add_argument("--users", type=int, default=60, help="users whose goal pathway is planned")
    p.add_argument("--max-steps", type=int, default=None, help="a course-step budget (default: none)")
    args = p.parse_args(argv)
    rec = Recommender.from_pretrained(args.model, use_embeddings=False)
    started = time.time()
    out = goal_reach(
        rec, load_split(args.data, args.split), rec.catalog, max_users=args.users, max_steps=args.max_steps
    )
    out["seconds"] = round(time.time() - started, 1)
    print(json.dumps({k: v for k, v in out.items() if not k.startswith("by_")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
