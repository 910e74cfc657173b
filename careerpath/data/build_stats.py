"""What a dataset build writes about its rows: the oracle ceiling, the graph dump and the dataset card.

:class:`_Oracle` tallies the realised and expected accuracy of the generator's argmax per split
(stats.json), :func:`progression_dump` is progression.json, and :func:`dataset_card` the README.md
with the Hub's YAML metadata.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from careerpath.core.catalog_reader import BUNDLED_DIR
from careerpath.core.progression import Progression
from careerpath.core.textformat import STAY
from careerpath.data.build_config import DataConfig
from careerpath.data.splits import SPLITS
from careerpath.data.synthesis import argmax_key


class _Oracle:
    """Running tallies of the oracle ceiling: realised and expected accuracy of the argmax.

    Each tally is a running sum in row order. The original summed numpy floats for the expected
    next-job accuracy (the job probabilities were numpy floats), so those sums are rounded as numpy
    floats (``round`` of a numpy float rounds differently from Python's in rare cases).
    """

    KEYS = ("next_course", "next_course_expected", "next_job", "next_job_expected", "next_job_moves")

    def __init__(self) -> None:
        self.n = self.moves = 0
        self.sums: dict[str, float] = {}
        self.numpy_keys: set[str] = set()

    def add(self, row: dict) -> None:
        is_move = row["next_job_id"] != STAY
        values = []
        numpy_job = False
        for probs in (row["probs_visible"], row["probs"]):
            for target, key in (("next_course", "course"), ("next_job", "job")):
                gold = row[f"{target}_id"]
                values.append(float(argmax_key(probs[key]) == gold))
                top = max(probs[key].values())
                numpy_job |= key == "job" and type(top) is not float
                values.append(float(top))
            if is_move:
                values.append(float(argmax_key(probs["job"]) == row["next_job_id"]))
        self.add_values(is_move, values, numpy_job)

    def add_values(self, is_move: bool, values: list[float], numpy_job: bool) -> None:
        """One row, from :func:`oracle_values` (same order as :meth:`add`)."""
        self.n += 1
        self.moves += is_move
        sums = self.sums
        for key, value in zip(_MOVE_KEYS if is_move else _STAY_KEYS, values):
            sums[key] = sums.get(key, 0.0) + value
        if numpy_job:
            self.numpy_keys.update(("visible/next_job_expected", "traits_known/next_job_expected"))

    def add_rows(self, values: np.ndarray, move: np.ndarray, numpy_job: np.ndarray) -> None:
        """Many rows at once, as :func:`pack_oracle` holds them: the same sums as
        :meth:`add_values` row by row, bit for bit (``np.cumsum`` adds in row order, as the loop
        does; a stay adds 0.0 to the moves-only tallies, which changes no sum)."""
        n = len(move)
        if not n:
            return
        moves = int(move.sum())
        self.n += n
        self.moves += moves
        by_key = np.zeros((n, len(_MOVE_KEYS)))
        by_key[move] = values[move]
        stay = ~move
        by_key[np.ix_(stay, _STAY_COLS)] = values[stay, : len(_STAY_KEYS)]
        sums = self.sums
        for col, key in enumerate(_MOVE_KEYS):
            if moves or key in _STAY_SET:
                sums[key] = float(np.cumsum(np.concatenate(([sums.get(key, 0.0)], by_key[:, col])))[-1])
        if numpy_job.any():
            self.numpy_keys.update(("visible/next_job_expected", "traits_known/next_job_expected"))

    def result(self) -> dict:
        out: dict[str, dict[str, float]] = {}
        for key, total in sorted(self.sums.items()):
            tag, name = key.split("/")
            denom = self.moves if name == "next_job_moves" else self.n
            if key in self.numpy_keys:
                total = np.float64(total)
            out.setdefault(tag, {})[name] = round(total / denom, 4) if denom else 0.0
        return out


_MOVE_KEYS = [f"{tag}/{name}" for tag in ("visible", "traits_known") for name in _Oracle.KEYS]
_STAY_KEYS = [f"{tag}/{name}" for tag in ("visible", "traits_known") for name in _Oracle.KEYS[:4]]
_STAY_SET = frozenset(_STAY_KEYS)
_STAY_COLS = [_MOVE_KEYS.index(k) for k in _STAY_KEYS]  # where a stay's values go among the tallies


def pack_oracle(rows: list[tuple]) -> dict[str, np.ndarray]:
    """:func:`oracle_values` of many rows as arrays (what a worker sends back, a shard saves and
    :meth:`_Oracle.add_rows` adds): ``values`` one row of 10 numbers per example in its own order
    (NaN-padded for stays, which have 8), ``move`` and ``numpy`` the flags."""
    n = len(rows)
    values = np.full((n, len(_MOVE_KEYS)), np.nan)
    move = np.fromiter((m for m, _, _ in rows), dtype=bool, count=n)
    for at, width in ((np.flatnonzero(move), len(_MOVE_KEYS)), (np.flatnonzero(~move), len(_STAY_KEYS))):
        if at.size:
            values[at, :width] = [rows[i][1] for i in at.tolist()]
    return {
        "values": values,
        "move": move,
        "numpy": np.fromiter((x for _, _, x in rows), dtype=bool, count=n),
    }


def progression_dump(prog: Progression) -> dict:
    """progression.json: the graph's summary, each job's next jobs with scores, each job's courses."""
    return {
        "summary": prog.summary(),
        "next_jobs": {
            j: [{"job": b, "score": round(s, 3)} for b, s in moves] for j, moves in prog.next_jobs.items()
        },
        "job_courses": prog.job_courses,
    }


def dataset_card(stats: dict, cfg: DataConfig) -> str:
    """Dataset card with the Hub's YAML metadata."""
    n = sum(stats["examples"].values())
    size = (
        "1K<n<10K"
        if n < 10_000
        else "10K<n<100K"
        if n < 100_000
        else "100K<n<1M"
        if n < 1_000_000
        else "1M<n<10M"
    )
    bundled = not cfg.catalog or Path(cfg.catalog).resolve() == BUNDLED_DIR.resolve()
    meta = {
        "license": "apache-2.0" if bundled else "other",
        "language": ["en"],
        "pretty_name": "careerpath synthetic career trajectories",
        "task_categories": ["text2text-generation", "text-generation"],
        "tags": ["career", "recommendation", "synthetic", "careerpath"],
        "size_categories": [size],
        "configs": [
            {"config_name": "default", "data_files": [{"split": s, "path": f"{s}.jsonl"} for s in SPLITS]}
        ],
    }
    o, ok = stats["oracle_acc"], stats["oracle_acc_traits_known"]
    return (
        f"""---
{yaml.safe_dump(meta, sort_keys=False).strip()}
---

# careerpath synthetic career trajectories

Synthetic learners moving through a catalog of {stats["catalog"]["jobs"]} jobs, {stats["catalog"]["courses"]} courses
and {stats["catalog"]["skills"]} skills, generated by `careerpath data build` (seed {cfg.synthesis.seed}).
Each row is one step: what is known now (`input_text`) and what happens next (`target_text`): the
next course, the skills it adds, and whether the person moves job (`stay` when not).

No real person's data is in this dataset. Users are split by `user_id` (no user in two splits).

| split | users | examples |
|---|---|---|
"""
        + "".join(f"| {s} | {stats['users_per_split'][s]} | {stats['examples'][s]} |\n" for s in SPLITS)
        + f"""
## Oracle ceiling (test split)

The generator records the probability it gave every possible next event, so the best accuracy any
model could reach is known. Users have a hidden preference type; *from the text* is the
Bayes-optimal accuracy given the input text (the posterior over types from the history), *traits
known* is the upper bound with the type revealed.

| target | from the text | traits known |
|---|---|---|
| next course Acc@1 | {o["next_course"]} | {ok["next_course"]} |
| next job Acc@1 (all) | {o["next_job"]} | {ok["next_job"]} |
| next job Acc@1 (moves only) | {o["next_job_moves"]} | {ok["next_job_moves"]} |

## Fields

`input_text`, `target_text` (the careerpath text format), the structured fields behind them
(`goal`, `job`, `history`, `skills`, `courses`, `next_course`, `skills_gained`, `next_job` and their
`*_id` versions), groups for bias reports (`start_family`, `start_level`, `job_family`, `job_level`),
the hidden `user_type` (never in the input text) and the generator's probabilities `probs` (type
known) and `probs_visible` (given the text): courses at or above 0.001 under `course`, the summed
probability of all other courses under `course_other`, and next jobs under `job` (`stay` included).
"""
        + (
            "\nInputs end with catalog context (`next_step`, `best`, `options`, `ready_after`; ids in "
            "`next_step_id`, `best_ids`, `option_ids`, `ready_ids`): the route to the goal and the courses "
            "closing the most of the skill gap, made by careerpath's `careerpath/core/context.py` with the "
            "settings in `context.json`.\n"
            if cfg.context.enabled
            else ""
        )
    )
