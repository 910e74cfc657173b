"""The SASRec benchmark's queries: each row's input sequence holds exactly what the row knows."""

import json
import sys
from pathlib import Path

import numpy as np
from helpers_rows import trajectory

from careerpath.app.recbole_export import row_queries, user_sequences
from careerpath.core.textformat import STAY

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import sasrec  # noqa: E402


def test_queries_of_a_hand_made_trajectory():
    # history j0 > j1; takes c0, c1 (abandoned), c1 again, c2; moves to j2 after step 1
    rows = trajectory("u1", "j3", ["j0", "j1"], ["c0", "c1", "c1", "c2"], moves={1: "j2"}, abandoned=[1])
    got = {r["step"]: (before, with_course) for r, before, with_course in row_queries(rows[::-1])}
    assert got[0] == (["job:j0", "job:j1"], ["job:j0", "job:j1", "course:c0"])
    assert got[1] == (["job:j0", "job:j1", "course:c0"], ["job:j0", "job:j1", "course:c0", "course:c1"])
    # the move after step 1 comes before step 2's input
    assert got[2][0] == ["job:j0", "job:j1", "course:c0", "course:c1", "job:j2"]
    assert got[3][1] == ["job:j0", "job:j1", "course:c0", "course:c1", "job:j2", "course:c1", "course:c2"]


def test_queries_of_a_real_build_hold_what_each_row_knows(tiny_dataset):
    moves = 0
    for split in ("train", "validation", "test"):
        rows = [json.loads(line) for line in open(tiny_dataset / f"{split}.jsonl")]
        seqs = user_sequences(rows)
        for r, before, with_course in row_queries(rows):
            jobs = [s[4:] for s in before if s.startswith("job:")]
            assert jobs == r["history_ids"] and jobs[-1] == r["job_id"]  # every earlier move, no later one
            courses = iter(s[7:] for s in before if s.startswith("course:"))
            assert all(c in courses for c in r["course_ids"])  # completed courses, in order
            seq = seqs[r["user_id"]]
            assert seq[: len(before)] == before
            if r["next_course_id"]:
                assert with_course == before + [f"course:{r['next_course_id']}"]
            else:
                assert with_course == before
            if r["next_job_id"] != STAY:  # the destination is the very next event
                assert seq[len(with_course)] == f"job:{r['next_job_id']}"
                moves += 1
    assert moves > 0


def test_training_pairs_are_next_event_prefixes():
    pairs = sasrec.next_item_pairs({"a": ["x", "y", "z"], "b": ["p"]}, max_len=2)
    assert pairs == [("a", ["x"], "y"), ("a", ["x", "y"], "z")]
    assert sasrec.next_item_pairs({"a": list("abcd")}, max_len=2)[-1] == ("a", ["b", "c"], "d")


def test_rows_are_scored_among_jobs_and_courses_as_careerpath_scores_them():
    # user a: history j0; takes c0 then moves to j1; then takes c1 (stays)
    rows = trajectory("a", "j1", ["j0"], ["c0", "c1"], moves={0: "j1"})
    queries = {}
    for _, before, with_course in row_queries(rows):
        for seq in (before, with_course):
            queries.setdefault(tuple(seq), len(queries))
    items = ["[PAD]", "job:j0", "job:j1", "job:j2", "course:c0", "course:c1", "course:c2"]
    columns = {t: i for i, t in enumerate(items)}
    scores = np.zeros((len(queries), len(items)), dtype=np.float32)
    # before the step: a course scores highest of all items and j1 ties with j2 (pessimistic: rank 2);
    # after the step's course: j1 is the best job
    scores[queries[("job:j0",)]] = [9, 0, 1, 1, 5, 0, 0]
    scores[queries[("job:j0", "course:c0")]] = [0, 0, 3, 1, 9, 0, 0]
    # step 1's input (c0 completed, masked): c0 scores highest, c1 is next
    scores[queries[("job:j0", "course:c0", "job:j1")]] = [0, 0, 0, 0, 9, 2, 1]
    got = sasrec.score_rows(
        rows,
        queries,
        scores,
        columns,
        ["job:j0", "job:j1", "job:j2"],
        ["course:c0", "course:c1", "course:c2"],
    )
    assert got["move_destination_before"]["n"] == 1 and got["move_destination_before"]["mrr"] == 0.5
    assert got["move_destination_with_course"]["acc@1"] == 1.0
    # next course: step 0 ranks c0 first (nothing taken yet); step 1 ranks c1 first once c0 is masked
    assert got["next_course"]["n"] == 2 and got["next_course"]["acc@1"] == 1.0


def test_a_goal_token_leads_every_query_and_is_not_a_candidate(tmp_path):
    rows = trajectory("a", "j1", ["j0"], ["c0"], moves={0: "j1"})
    lead = {"a": ["goal:j1"]}
    queries = {("goal:j1", "job:j0"): 0, ("goal:j1", "job:j0", "course:c0"): 1}
    items = ["[PAD]", "goal:j1", "job:j0", "job:j1", "course:c0"]
    scores = np.array([[0, 9, 0, 1, 5], [0, 9, 2, 1, 0]], dtype=np.float32)
    got = sasrec.score_rows(
        rows, queries, scores, {t: i for i, t in enumerate(items)}, ["job:j0", "job:j1"], ["course:c0"], lead
    )
    assert got["move_destination_before"]["acc@1"] == 1.0  # the goal item scores 9 but is no job
    assert got["move_destination_with_course"]["acc@1"] == 0.0
    item_file = tmp_path / "x.item"
    item_file.write_text(
        "item_id:token\ttype:token\ttitle:token_seq\njob:j0\tjob\tJ0\n"
        "course:c0\tcourse\tC0\ngoal:j1\tgoal\tj1\n"
    )
    assert sasrec.catalog_items(item_file) == (["job:j0"], ["course:c0"])
