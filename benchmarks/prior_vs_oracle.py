"""How close does the course prior alone come to the oracle (from the text), per generator?

    python benchmarks/prior_vs_oracle.py [--users 5000] [--generator batched|reference] [--max-rows 6000]
                                         [--hours spline|smooth] [--past-jobs timeline|today|generator]

Generates ``--users`` people with the default data config (the batched generator, or the per-user
reference kept in tests/reference_synthesis.py), fits the latent-class course prior on the rows of
80% of the people, and prints next-course Acc@1 of the prior's argmax and of the generator's
visible probabilities (the oracle) on the other 20%. Rows carry no catalog context (the prior does
not read it). About 2-3 minutes for 5,000 users of the batched generator on 2 cores.

Ablations: ``--hours smooth`` leaves out the hours spline (log and linear hours only);
``--past-jobs today`` reads every past course at today's job, ``generator`` at the job the
generator's records say was held (not in a profile: an upper bound for the timeline).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from careerpath.core.catalog import load_catalog  # noqa: E402
from careerpath.core.config import bundled_config  # noqa: E402
from careerpath.core.context import GapRetriever  # noqa: E402
from careerpath.core.progression import Progression  # noqa: E402
from careerpath.data.build import load_data_config  # noqa: E402
from careerpath.data.synthesis import Synthesiser, event_to_row  # noqa: E402
from careerpath.model.prior import LatentClassPrior  # noqa: E402


class RecordedJobs:
    """A stand-in for the prior's timeline that answers with the job each past course was really
    taken at, from the generator's events (rows of one person follow each other)."""

    def __init__(self, events, rows):
        self._truth = {}
        for k, (ev, row) in enumerate(zip(events, rows, strict=True)):
            prev = events[k - ev.step : k]  # this person's earlier events
            jobs = [p.job for i, p in enumerate(prev) if p.next_course in (prev[i + 1 :] + [ev])[0].courses]
            self._truth[self._key(row["job_id"], row["skill_ids"], row["course_ids"])] = jobs

    @staticmethod
    def _key(job, skills, taken):
        return job, frozenset(skills), tuple(taken)

    def jobs(self, job, goal, skills, taken=(), history=()):
        return self._truth[self._key(job, skills, taken)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=5000, help="people generated (default: %(default)s)")
    ap.add_argument(
        "--generator", choices=["batched", "reference"], default="batched", help="which generator"
    )
    ap.add_argument("--max-rows", type=int, default=6000, help="training rows the prior is fitted on")
    ap.add_argument("--hours", choices=["spline", "smooth"], default="spline", help="hours features")
    ap.add_argument(
        "--past-jobs",
        choices=["timeline", "today", "generator"],
        default="timeline",
        help="the job each past course is read at",
    )
    args = ap.parse_args()
    cfg = load_data_config(bundled_config("data/default.yaml"), {})
    cat = load_catalog(cfg.catalog)
    prog = Progression(cat, n_next=cfg.n_next_jobs, n_courses=cfg.n_courses_per_job)
    if args.generator == "reference":
        from tests import reference_synthesis

        syn = reference_synthesis.Synthesiser(cat, prog, cfg.synthesis)
        events = [e for i in range(args.users) for e in syn.user(i)]
    else:
        syn = Synthesiser(cat, prog, cfg.synthesis)
        events = [e for evs in syn.batch(np.arange(args.users)) for e in evs]
    rows = [event_to_row(e, cat) for e in events]
    recorded = RecordedJobs(events, rows)
    users = sorted({r["user_id"] for r in rows})
    train_users = set(users[: int(len(users) * 0.8)])
    train = [r for r in rows if r["user_id"] in train_users]
    test = [r for r in rows if r["user_id"] not in train_users and r.get("next_course_id")]
    prior = LatentClassPrior.fit(
        GapRetriever(cat, prog, cfg.context),
        train,
        max_rows=args.max_rows,
        spline=args.hours == "spline",
        timeline=args.past_jobs == "timeline",
    )
    if args.past_jobs == "generator":
        prior.timeline = recorded
    ids = list(cat.courses)
    hit_prior = sum(ids[int(np.argmax(prior.for_row(r)))] == r["next_course_id"] for r in test)
    hit_oracle = 0
    for r in test:
        pv = r["probs_visible"]["course"]
        hit_oracle += max(pv, key=pv.get) == r["next_course_id"]
    print(
        f"{args.generator}, hours {args.hours}, past jobs {args.past_jobs}: {len(test)} rows; prior Acc@1 {hit_prior / len(test):.4f}, "
        f"oracle {hit_oracle / len(test):.4f}, ratio {hit_prior / hit_oracle:.3f}"
    )


if __name__ == "__main__":
    main()
