"""Bias report: per-group metrics and gaps, concentration, counterfactual texts and stability."""

import zlib

import numpy as np
import pytest
from helpers_rows import make_row

from careerpath.core.textformat import parse_input
from careerpath.eval import bias

COURSES = ["c0", "c1", "c2", "c3"]
JOBS = ["j0", "j1"]


def rows_two_families():
    # "data" users next take c1, "software" users next take c2; half of each moves to j1
    rows = []
    for i in range(4):
        rows.append(make_row(f"d{i}", 0, "j1", ["j0"], [], "c1", "j1" if i < 2 else "stay", family="data"))
        rows.append(make_row(f"s{i}", 0, "j1", ["j0"], ["c0"], "c2", "stay", family="software", level=2))
    return rows


def scores_favouring_data(n):
    """Courses: c1 > c0 > c2 > c3 for everyone; jobs: stay > j1 > j0."""
    c = np.log(np.tile([0.3, 0.4, 0.2, 0.1], (n, 1)))
    j = np.log(np.tile([0.1, 0.3, 0.6], (n, 1)))
    return c, j


def test_group_metrics_find_the_group_served_worse():
    rows = rows_two_families()
    c, j = scores_favouring_data(len(rows))
    out = bias.group_metrics(rows, c, j, "start_family", COURSES, JOBS, k=2, min_rows=1)
    data, soft = out["groups"]["data"], out["groups"]["software"]
    assert data["n"] == soft["n"] == 4
    assert data["course_acc@1"] == 1.0
    # software users took c0 already (masked), so c2 is second behind c1: a hit@2 but not acc@1
    assert soft["course_acc@1"] == 0.0 and soft["course_hit@2"] == 1.0
    assert data["job_acc@1"] == 0.5 and soft["job_acc@1"] == 1.0
    assert data["move_acc@1"] == 0.0 and data["move_hit@2"] == 1.0 and np.isnan(soft["move_acc@1"])
    assert out["gaps"]["course_acc@1"] == 1.0
    assert out["largest_gap"] == {
        "metric": "course_acc@1",
        "gap": 1.0,
        "best_group": "data",
        "worst_group": "software",
    }
    # small groups are reported but not compared
    assert bias.group_metrics(rows, c, j, "start_level", COURSES, JOBS, min_rows=5)["gaps"] == {}
    with pytest.raises(KeyError, match="no field"):
        bias.group_metrics(rows, c, j, "start_country", COURSES, JOBS)


def test_group_rates():
    rows = rows_two_families()
    out = bias.group_rates(rows, [1, 0] * 4, "start_family", min_rows=1)
    assert out["groups"]["data"]["rate"] == 1.0 and out["groups"]["software"]["rate"] == 0.0
    assert out["gap"] == 1.0


def test_recommendation_concentration():
    rows = rows_two_families()
    c, _ = scores_favouring_data(len(rows))
    out = bias.recommendation_concentration(c, rows, COURSES, k=1)
    # top-1 is c1 for everyone: one course of four covered, all recommendations on it
    assert out["coverage@1"] == 0.25 and out["gini@1"] == pytest.approx(0.75)
    out = bias.recommendation_concentration(c, rows, COURSES, k=4)
    assert out["coverage@4"] == 1.0


def test_counterfactual_texts_are_ignored_by_the_parser_but_change_the_text():
    text = make_row("u", 0, "j1", ["j0", "j1"], ["c0"], "c1", skills=["python", "sql"])["input_text"]
    variants = bias.counterfactual_texts(text)
    assert len(variants) == 3 and len(set(variants)) == 3
    for v in variants:
        assert v != text and any(w in v for w in ("Maria", "Ahmed", "Wei"))
        assert parse_input(v, strict=False) == parse_input(text)


def test_counterfactual_stability_tells_a_text_sensitive_scorer_from_a_robust_one():
    rows = rows_two_families()

    def scorer(parse):
        def fn(rs):
            # scores depend on a hash of what the scorer reads
            seeds = [zlib.crc32(parse(r["input_text"]).encode()) for r in rs]
            c = np.stack([np.random.default_rng(s).normal(size=len(COURSES)) for s in seeds])
            j = np.stack([np.random.default_rng(s + 1).normal(size=len(JOBS) + 1) for s in seeds])
            return c, j

        return fn

    robust = bias.counterfactual_stability(
        scorer(lambda t: repr(parse_input(t, strict=False))), rows, COURSES
    )
    fragile = bias.counterfactual_stability(scorer(lambda t: t), rows, COURSES)
    assert robust["stability"] == 1.0 and robust["n"] == len(rows)
    assert fragile["stability"] < 0.5
