"""``careerpath simulate-feedback``: does folding ratings back into training make recommendations better?

Simulated people with hidden tastes ask for recommendations, rate the top-k, and the model is
retrained on the ratings after each round (``train.py --init_from <last model> --feedback_db``,
exactly as an operator would). Reported per round: the acceptance rate (share of shown courses
the people liked) and the held-out test next-course Hit@10, so a gain bought with accuracy shows.

Hidden tastes belong to a kind of profile, so the model can learn them: everyone whose current
job is in the same job family shares one taste. Families alternate (sorted by name) between

* ``short``: likes courses of at most ``--max-hours`` hours (default 20), dislikes longer ones;
* ``avoid:<provider>``: dislikes one provider's courses: the provider that teaches most of the
  courses of that family's jobs in the progression graph (so the taste bites), likes the rest.

People are drawn from the validation split (their job, goal, skills and courses, as the demo
would store them), fresh ones each round, so round-on-round gains are about kinds of people,
not the same person asked twice.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class Taste:
    kind: str  # "short" or "avoid"
    max_hours: float = 20.0
    provider: str = ""

    def likes(self, course) -> bool:
        if self.kind == "short":
            return course.hours <= self.max_hours
        return course.provider != self.provider

    def describe(self) -> str:
        return f"short (<= {self.max_hours:g} h)" if self.kind == "short" else f"avoid:{self.provider}"


def family_tastes(catalog, max_hours: float = 20.0) -> dict[str, Taste]:
    from careerpath.core.progression import Progression

    prog = Progression(catalog)
    tastes = {}
    for i, fam in enumerate(sorted({j.family for j in catalog.jobs.values()})):
        if i % 2 == 0:
            tastes[fam] = Taste("short", max_hours=max_hours)
            continue
        providers = Counter(
            catalog.courses[c].provider
            for j in catalog.jobs.values()
            if j.family == fam
            for c in prog.job_courses.get(j.id, [])
        )
        top = providers.most_common(1)[0][0] if providers else ""
        tastes[fam] = Taste("avoid", provider=top)
    return tastes


def user_pool(data_dir: Path, catalog) -> list[dict]:
    from careerpath.training.training import load_rows

    seen, pool = set(), []
    for split in ("validation", "train"):
        for r in load_rows(data_dir, split):
            if r["user_id"] in seen or not r.get("job_id") or r["job_id"] not in catalog.jobs:
                continue
            seen.add(r["user_id"])
            pool.append(
                {
                    "job": r["job_id"],
                    "goal": r.get("goal_id") or None,
                    "skills": list(r.get("skill_ids") or []),
                    "courses": list(r.get("course_ids") or []),
                }
            )
    return pool


def ask_and_rate(rec, users: list[dict], tastes: dict[str, Taste], top_k: int, store, round_no: int) -> dict:
    from careerpath.core.profile import ResolvedProfile
    from careerpath.data.feedback import FeedbackEvent

    liked = shown = 0
    for u, p in enumerate(users):
        prof = ResolvedProfile(
            job=p["job"], goal=p["goal"], skills=list(p["skills"]), courses=list(p["courses"])
        )
        result = rec.recommend(prof, top_k=top_k)
        taste = tastes[rec.catalog.jobs[p["job"]].family]
        ids = [c["id"] for c in result["next_courses"]]
        for cid in ids:
            ok = taste.likes(rec.catalog.courses[cid])
            liked += ok
            shown += 1
            store.add(
                FeedbackEvent(
                    session_id=f"sim-r{round_no}-u{u}",
                    item_kind="course",
                    item_id=cid,
                    rating=1 if ok else -1,
                    profile=p,
                    shown=ids,
                    model_version=rec.model_version,
                )
            )
    return {"acceptance": liked / max(shown, 1), "liked": liked, "shown": shown}


def run(
    model: str | Path,
    users: int,
    rounds: int,
    out: str | Path,
    top_k: int = 5,
    steps: int = 100,
    lr: float = 1e-4,
    max_hours: float = 20.0,
    seed: int = 0,
    test_examples: int = 0,
    extra_overrides: list[str] | None = None,
    data: str | Path | None = None,
) -> dict:
    from careerpath.core.config import load_config
    from careerpath.data.feedback import FeedbackStore
    from careerpath.data.splits import resolve_data_dir
    from careerpath.serving.recommend import Recommender
    from careerpath.training import training

    model, out = Path(model), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data_dir = resolve_data_dir(model, data)  # never relative to where the model was trained
    base_cfg = load_config(["--config", str(model / "config.yaml"), "--data_dir", str(data_dir)])
    rec = Recommender.from_pretrained(model, use_embeddings=False)
    tastes = family_tastes(rec.catalog, max_hours)
    pool = _shuffled_pool(data_dir, rec.catalog, seed, users * (rounds + 1))
    store_path = out / "feedback.sqlite"
    store_path.unlink(missing_ok=True)
    store = FeedbackStore(store_path)
    test0 = _base_test_metrics(model, base_cfg, rec, test_examples)
    history = []
    current = model
    for r in range(rounds + 1):
        people = [pool[(r * users + i) % len(pool)] for i in range(users)]
        history.append(_round_row(r, current, ask_and_rate(rec, people, tastes, top_k, store, r), test0))
        if r == rounds:
            break
        nxt = out / f"model_round{r + 1}"
        cfg = load_config(
            _retrain_args(model, current, store_path, data_dir, nxt, steps, lr, test_examples, seed + r + 1)
            + list(extra_overrides or [])
        )
        current = training.run_training(cfg)
        rec = Recommender.from_pretrained(current, use_embeddings=False)
    result = _summary(users, rounds, top_k, steps, lr, tastes, history)
    (out / "results.json").write_text(json.dumps(result, indent=2))
    (out / "report.md").write_text(render(result))
    plot(history, out / "acceptance.png")
    return result


def _shuffled_pool(data_dir: Path, catalog, seed: int, wanted: int) -> list[dict]:
    """The people to ask, in a seeded random order; warns when fewer than ``wanted`` are distinct."""
    pool = user_pool(data_dir, catalog)
    rng = random.Random(seed)
    rng.shuffle(pool)
    if len(pool) < wanted:
        log.warning("only %d distinct people; some are asked again in later rounds", len(pool))
    return pool


def _base_test_metrics(model: Path, base_cfg, rec, test_examples: int) -> dict:
    """Test metrics of the starting model (round 0)."""
    from careerpath.model.modeling import load_for_inference
    from careerpath.training import training

    m, tok, kind = load_for_inference(model)
    base_cfg.feedback.eval_test_examples = test_examples
    # scored as the recommender and the retrains score: with the model's course prior, if it has one
    return training.feedback_test_metrics(m, tok, kind, base_cfg, prior=rec.scorer.prior)


def _round_row(r: int, current: Path, res: dict, test0: dict) -> dict:
    """One round's history row: its ratings and the current model's test metrics."""
    test = test0 if r == 0 else json.loads((current / "metrics.json").read_text())["test_after_feedback"]
    row = {"round": r, "model": str(current), **res, "test_hit@10": test["next_course_hit@10"]}
    row["test_acc@1"] = test["next_course_acc@1"]
    log.info("round %d: acceptance %.3f, test Hit@10 %.3f", r, res["acceptance"], row["test_hit@10"])
    return row


def _retrain_args(
    model: Path,
    current: Path,
    store_path: Path,
    data_dir: Path,
    nxt: Path,
    steps: int,
    lr: float,
    test_examples: int,
    seed: int,
) -> list[str]:
    """Config arguments of one retrain: from ``current`` on the ratings so far, written to ``nxt``."""
    return (
        [
            "--config",
            str(model / "config.yaml"),
            "--train.init-from",
            str(current),
            "--feedback.feedback-db",
            str(store_path),
            "--data_dir",
            str(data_dir),
        ]
        + ["--train.output-dir", str(nxt), "--train.max-steps", str(steps), "--train.lr", str(lr)]
        + ["--train.warmup-ratio", "0", "--data.max-eval-examples", "32"]
        + ["--feedback.eval-test-examples", str(test_examples), "--train.checkpoint-every", "0"]
        + ["--train.seed", str(seed)]
    )


def _summary(
    users: int, rounds: int, top_k: int, steps: int, lr: float, tastes: dict[str, Taste], history: list[dict]
) -> dict:
    """The results.json of a simulation: its settings, tastes, history and first-to-last changes."""
    return {
        "users_per_round": users,
        "rounds": rounds,
        "top_k": top_k,
        "steps_per_retrain": steps,
        "lr": lr,
        "tastes": {f: t.describe() for f, t in tastes.items()},
        "history": history,
        "acceptance_gain_points": round(100 * (history[-1]["acceptance"] - history[0]["acceptance"]), 1),
        "test_hit@10_change_points": round(100 * (history[-1]["test_hit@10"] - history[0]["test_hit@10"]), 1),
    }


def render(result: dict) -> str:
    lines = [
        f"# Feedback loop: {result['users_per_round']} simulated people per round, top-{result['top_k']} rated, "
        f"{result['steps_per_retrain']} steps per retrain",
        "",
        "| round | acceptance | liked / shown | test next-course Hit@10 | test Acc@1 |",
        "|---|---|---|---|---|",
    ]
    for h in result["history"]:
        lines.append(
            f"| {h['round']} | {h['acceptance']:.3f} | {h['liked']} / {h['shown']} | {h['test_hit@10']:.3f} | "
            f"{h['test_acc@1']:.3f} |"
        )
    lines += [
        "",
        f"Acceptance {result['acceptance_gain_points']:+.1f} points; test Hit@10 "
        f"{result['test_hit@10_change_points']:+.1f} points.",
        "",
        "Tastes by job family: " + "; ".join(f"{f}: {t}" for f, t in result["tastes"].items()),
    ]
    return "\n".join(lines) + "\n"


def plot(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [h["round"] for h in history]
    fig, ax = plt.subplots(figsize=(5.5, 3.4), dpi=110)
    ax.plot(rounds, [h["acceptance"] for h in history], "o-", label="acceptance (simulated people)")
    ax.plot(rounds, [h["test_hit@10"] for h in history], "s--", label="test next-course Hit@10")
    ax.set_xlabel("round (retrains so far)")
    ax.set_ylim(0, 1)
    ax.set_xticks(rounds)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Feedback loop", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    from careerpath.core.cli_common import ArgumentParser, HelpFormatter, add_json_flag

    p = ArgumentParser(
        prog="careerpath simulate-feedback",
        description=__doc__.split("\n\n")[0],
        formatter_class=HelpFormatter,
    )
    p.add_argument("--model", default="outputs/tiny_t5", help="trained model folder to start from")
    p.add_argument("--users", type=int, default=200, help="simulated people per round")
    p.add_argument("--rounds", type=int, default=3, help="retrains")
    p.add_argument("--out", default="outputs/feedback_sim", help="folder for models, store, report and plot")
    p.add_argument("--top-k", type=int, default=5, help="courses shown and rated per person")
    p.add_argument("--steps", type=int, default=100, help="optimizer steps per retrain")
    p.add_argument("--lr", type=float, default=1e-4, help="peak learning rate of each retrain")
    p.add_argument("--max-hours", type=float, default=20.0, help="the 'short' taste's limit")
    p.add_argument("--test-examples", type=int, default=0, help="test rows for Hit@10 (0: all)")
    p.add_argument("--seed", type=int, default=0, help="seed for who is asked and their ratings")
    p.add_argument(
        "--data",
        default=None,
        help="dataset folder the people and the test split come from (default: the one the model's config.yaml records)",
    )
    p.add_argument(
        "--feedback-loss-weight",
        type=float,
        default=None,
        help="ablation: weight of the feedback loss in the retrains (0: the model learns nothing from ratings)",
    )
    p.add_argument(
        "--rerank-strength",
        type=float,
        default=None,
        help="weight of the re-ranker's log p(like) next to the model's log-probability (default: the model's config)",
    )
    add_json_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """``careerpath simulate-feedback --model DIR --users N --rounds R --out DIR [--json]``."""
    from careerpath.core.cli_common import print_json

    p = build_parser()
    args = p.parse_args(argv)
    if args.rerank_strength is not None and not (
        args.rerank_strength >= 0 and math.isfinite(args.rerank_strength)
    ):
        p.error(f"--rerank-strength must be a finite number >= 0, got {args.rerank_strength}")
    if not (Path(args.model) / "config.yaml").exists():
        print(
            f"error: --model {args.model}: no trained model there; run `careerpath quickstart` first",
            file=sys.stderr,
        )
        return 2
    from careerpath.data.splits import resolve_data_dir

    try:
        data = resolve_data_dir(args.model, args.data)  # checked before anything is written
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    r = run(
        args.model,
        args.users,
        args.rounds,
        args.out,
        args.top_k,
        args.steps,
        args.lr,
        args.max_hours,
        args.seed,
        args.test_examples,
        (
            []
            if args.feedback_loss_weight is None
            else ["--feedback.loss-weight", str(args.feedback_loss_weight)]
        )
        + ([] if args.rerank_strength is None else ["--feedback.rerank-strength", str(args.rerank_strength)]),
        data=data,
    )
    if args.json:
        print_json({"out": str(args.out), **r})
        return 0
    print(render(r))
    print(f"wrote {args.out}/report.md, results.json, acceptance.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
