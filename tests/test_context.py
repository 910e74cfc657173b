"""Catalog context in model inputs (careerpath/core/context.py): the retriever, the text format, the
build, and that training, evaluation and the recommender read inputs the same way."""

from __future__ import annotations

import json

import numpy as np
import pytest

from careerpath.core.catalog import load_catalog
from careerpath.core.context import (
    CONTEXT_FILE,
    Context,
    ContextConfig,
    GapRetriever,
    load_context_file,
    retriever_for,
)
from careerpath.core.progression import Progression, coverage
from careerpath.core.textformat import Profile, parse_input, serialise_input
from careerpath.data.build import build_dataset, load_data_config
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def tiny(tiny_catalog_dir):
    cat = load_catalog(tiny_catalog_dir)
    return cat, Progression(cat)


def test_hand_worked_example(tiny):
    """A data analyst (Excel, SQL, statistics, charts, communication) aiming at data scientist:
    Python and machine learning are missing, each worth 0.9 (next step) + 0.5 x 0.9 (goal).
    "Machine Learning in Practice" teaches both (2.7); the two Python courses 1.35 each;
    "Machine Learning Foundations" needs Python first, and "Applied Statistics" adds nothing."""
    cat, prog = tiny
    r = GapRetriever(cat, prog, ContextConfig(options=9))
    skills = ["excel", "sql", "statistics", "data-viz", "communication"]
    ctx = r.context("data-analyst", "data-scientist", skills)
    # data scientist's requirements weigh 3.9; held 2.1 (54%); with Python and ML 100%, with
    # Python alone 3.0 / 3.9 = 77% < 80%: only the first course makes the next step reachable
    assert ctx == Context("data-scientist", ["c-ml2"], ["c-py1", "c-py2"], ["c-ml2"])
    hop, score = r.scores("data-analyst", "data-scientist", skills)
    assert score[r.course_ids.index("c-ml2")] == pytest.approx(2.7)
    assert score[r.course_ids.index("c-py1")] == pytest.approx(1.35)
    assert np.isneginf(score[r.course_ids.index("c-ml1")])  # prerequisite python missing
    assert np.isneginf(score[r.course_ids.index("c-st2")])  # nothing new to learn
    # once taken, a course is never proposed again; the two tied Python courses are both "best"
    assert r.context("data-analyst", "data-scientist", skills, ["c-ml2"]) == Context(
        "data-scientist", ["c-py1", "c-py2"], [], []
    )
    # already at 80% with Python held: every candidate keeps the next step in reach
    lenient = GapRetriever(cat, prog, ContextConfig(move_threshold=0.75, options=9))
    assert lenient.context("data-analyst", "data-scientist", skills).ready_after == [
        "c-ml2",
        "c-py1",
        "c-py2",
    ]
    # the goal's weight counts: without it the scores halve... but not the order
    half = GapRetriever(cat, prog, ContextConfig(goal_weight=0.0))
    assert half.scores("data-analyst", "data-scientist", skills)[1][
        r.course_ids.index("c-ml2")
    ] == pytest.approx(1.8)


def test_prerequisite_value_and_unknown_job(tiny):
    """A job the catalog does not know has no next step: only the goal's gap counts. Aiming at
    ML engineer with no skills, machine learning is worth 0.5 x 0.9; statistics is not required,
    but both machine-learning courses need it, so a statistics course is worth 0.5 x 0.45."""
    cat, prog = tiny
    r = GapRetriever(cat, prog)
    hop, score = r.scores("no-such-job", "ml-engineer", [])
    assert hop == ""
    assert score[r.course_ids.index("c-st1")] == pytest.approx(0.225)
    no_prereq = GapRetriever(cat, prog, ContextConfig(prereq_weight=0.0))
    assert np.isneginf(no_prereq.scores("no-such-job", "ml-engineer", [])[1][r.course_ids.index("c-st1")])
    assert r.context("no-such-job", "ml-engineer", []).next_step == ""


def _reference(cat, prog, cfg, job, goal, skills, taken):
    """The retriever's rule written as a plain loop over courses and skills."""
    held = set(skills)
    hop = prog.next_hop(job, goal) if job in cat.jobs and goal in cat.jobs else None
    hop = "" if hop in (None, job) else hop
    want = {}
    if hop:
        for s, w in cat.jobs[hop].skills.items():
            if s not in held:
                want[s] = want.get(s, 0.0) + w
    for s, w in cat.jobs[goal].skills.items():
        if s not in held:
            want[s] = want.get(s, 0.0) + cfg.goal_weight * w
    pre = {}
    for c in cat.courses.values():
        cw = max([want.get(s, 0.0) for s in c.skills], default=0.0)
        for p in c.prerequisites:
            if p not in held:
                pre[p] = max(pre.get(p, 0.0), cfg.prereq_weight * cw)
    scored = []
    for i, c in enumerate(cat.courses.values()):
        if c.id in taken or not set(c.prerequisites) <= held or set(c.skills) <= held:
            continue
        g = sum(want.get(s, 0.0) or pre.get(s, 0.0) for s in c.skills if s not in held)
        if g > 0:
            scored.append((g, i, c.id))
    return hop, scored


def test_matches_a_plain_loop_on_the_bundled_catalog():
    cat = load_catalog(None)
    prog = Progression(cat)
    cfg = ContextConfig(options=9)
    r = GapRetriever(cat, prog, cfg)
    assert (
        GapRetriever(cat, prog, ContextConfig(options=0))
        .context("data-analyst", "data-scientist", [])
        .options
        == []
    )
    rng = np.random.default_rng(0)
    jobs, skills, courses = list(cat.jobs), list(cat.skills), list(cat.courses)
    for _ in range(150):
        job, goal = rng.choice(jobs), rng.choice(jobs)
        held = list(rng.choice(skills, size=rng.integers(0, 25), replace=False))
        taken = list(rng.choice(courses, size=rng.integers(0, 4), replace=False))
        hop, scored = _reference(cat, prog, cfg, job, goal, held, taken)
        got_hop, score = r.scores(job, goal, held, taken)
        assert got_hop == hop
        expected = {cid: g for g, _, cid in scored}
        finite = {r.course_ids[i]: score[i] for i in np.flatnonzero(np.isfinite(score))}
        assert finite.keys() == expected.keys()
        for cid, g in expected.items():
            assert finite[cid] == pytest.approx(g)
        ctx = r.context(job, goal, held, taken)
        ranked = [cid for _, _, cid in sorted(scored, key=lambda x: (-round(x[0], 9), x[1]))]
        top_n = (
            sum(1 for g, _, _ in scored if round(g, 9) == round(max(x[0] for x in scored), 9))
            if scored
            else 0
        )
        ranked = ranked[: min(top_n, cfg.max_best) + cfg.options]
        assert ctx.best + ctx.options == ranked
        want_ready = [
            c
            for c in ranked
            if hop and coverage(set(held) | set(cat.courses[c].skills), cat.jobs[hop]) >= 0.8 - 1e-9
        ]
        assert ctx.ready_after == want_ready
        if ranked:
            top = max(g for g, _, _ in scored)
            assert all(expected[c] == pytest.approx(top) for c in ctx.best)
            assert all(expected[c] < top - 1e-9 for c in ctx.options)


def test_text_format_round_trip_with_and_without_context():
    plain = Profile(goal="Data Scientist", job="Data Analyst", skills=["SQL"])
    assert "next_step" not in serialise_input(plain)
    assert parse_input(serialise_input(plain)) == plain
    rich = Profile(
        goal="Data Scientist",
        job="Data Analyst",
        skills=["SQL"],
        context=True,
        next_step="Data Scientist",
        best=["Machine Learning; in Practice"],
        options=["Python Basics", "A | B"],
        ready_after=["Python Basics"],
    )
    text = serialise_input(rich)
    assert text.endswith(
        "| next_step: Data Scientist | best: Machine Learning\\; in Practice | options: Python Basics; A \\| B"
        " | ready_after: Python Basics"
    )
    assert parse_input(text) == rich
    empty = Profile(goal="Data Scientist", context=True)
    assert serialise_input(empty).endswith("| next_step: | best: | options: | ready_after:")
    assert parse_input(serialise_input(empty)) == empty


def test_config_is_checked(tmp_path):
    with pytest.raises(ValueError, match="context.goal_weight"):
        ContextConfig(goal_weight=-1)
    with pytest.raises(ValueError, match="context.options"):
        ContextConfig(options=-1)
    bad = tmp_path / "bad.yaml"
    bad.write_text("context: {weights: 1}\n")
    with pytest.raises(ValueError, match="unknown context key.*weights"):
        load_data_config(bad)
    (tmp_path / CONTEXT_FILE).write_text('{"context": {"options": "ten"}}')
    with pytest.raises(ValueError, match="not a valid context file"):
        load_context_file(tmp_path)
    (tmp_path / CONTEXT_FILE).write_text(
        '{"context": {"rerank": 1}, "n_next_jobs": 5, "n_courses_per_job": 10}'
    )
    with pytest.raises(ValueError, match="unknown setting.*rerank"):
        load_context_file(tmp_path)


def test_build_writes_context_rows_and_file(tiny_dataset, tiny_catalog_dir):
    info = load_context_file(tiny_dataset)
    assert info is not None and info["context"] == ContextConfig()
    assert "Inputs end with catalog context" in (tiny_dataset / "README.md").read_text()  # the card
    cat = load_catalog(tiny_dataset / "catalog")
    r = retriever_for(tiny_dataset, cat)
    rows = [json.loads(x) for x in (tiny_dataset / "train.jsonl").read_text().splitlines()]
    assert rows
    for row in rows[:200]:
        ctx = r.context(row["job_id"], row["goal_id"], row["skill_ids"], row["course_ids"])
        got = (row["next_step_id"], row["best_ids"], row["option_ids"], row["ready_ids"])
        assert got == (ctx.next_step, ctx.best, ctx.options, ctx.ready_after)
        prof = parse_input(row["input_text"])
        assert prof.context and prof.best == [cat.courses[c].title for c in ctx.best]
        assert prof.next_step == (cat.jobs[ctx.next_step].title if ctx.next_step else "")
    # most sampled next courses are among the candidates
    hit = np.mean([row["next_course_id"] in row["best_ids"] + row["option_ids"] for row in rows])
    assert hit > 0.6


def test_build_without_context_has_the_old_inputs(tmp_path, tiny_catalog_dir):
    over = {"catalog": str(tiny_catalog_dir), "users": 30}
    cfg = load_data_config(ROOT / "configs" / "data" / "tiny.yaml", over)
    cfg.context = ContextConfig(enabled=False)
    build_dataset(cfg, tmp_path / "plain", progress=False)
    assert retriever_for(tmp_path / "plain", load_catalog(tiny_catalog_dir)) is None
    row = json.loads((tmp_path / "plain" / "train.jsonl").read_text().splitlines()[0])
    assert "next_step" not in row["input_text"] and "best_ids" not in row
    assert "catalog context" not in (tmp_path / "plain" / "README.md").read_text()
    assert not parse_input(row["input_text"]).context


def test_gap_rule_scorer_ranks_the_retrievers_best_first(tiny_dataset):
    from careerpath.core.progression import coverage
    from careerpath.eval.baselines import GapRuleScorer, evaluate_scorer, load_split

    cat = load_catalog(tiny_dataset / "catalog")
    rows = load_split(tiny_dataset, "test")
    scorer = GapRuleScorer(retriever_for(tiny_dataset, cat), list(cat.jobs))
    course_lp, job_lp = scorer.score(rows)
    assert np.allclose(np.exp(course_lp).sum(axis=1), 1) and np.allclose(np.exp(job_lp).sum(axis=1), 1)
    ids, jobs = list(cat.courses), list(cat.jobs) + ["stay"]
    for row, c, j in zip(rows, course_lp, job_lp):
        if row["best_ids"]:
            assert ids[int(np.argmax(c))] == row["best_ids"][0]
            top = cat.courses[row["best_ids"][0]]
            hop = row["next_step_id"]
            ready = hop and coverage(set(row["skill_ids"]) | set(top.skills), cat.jobs[hop]) >= 0.8 - 1e-9
            assert jobs[int(np.argmax(j))] == (hop if ready else "stay")
    m = evaluate_scorer(scorer, rows, ids, list(cat.jobs))
    assert m["next_course"]["acc@1"] > 0.2


def test_model_carries_its_context_and_evaluation_refuses_other_inputs(tiny_model, tiny_dataset, tmp_path):
    """Training copies context.json into the model folder; the recommender builds the same inputs
    as the dataset rows; evaluating on a dataset made without context is refused, naming both."""
    from careerpath.core.profile import ResolvedProfile
    from careerpath.eval.evaluation import evaluate_model
    from careerpath.serving.recommend import Recommender
    from tests.conftest import ASSETS

    assert load_context_file(tiny_model) == load_context_file(tiny_dataset)
    assert "catalog context (`next_step`" in (tiny_model / "README.md").read_text()  # the model card says so
    rec = Recommender.from_pretrained(tiny_model, use_embeddings=False)
    assert rec.context is not None
    row = json.loads((tiny_dataset / "test.jsonl").read_text().splitlines()[0])
    prof = ResolvedProfile(
        job=row["job_id"],
        goal=row["goal_id"],
        history=row["history_ids"],
        skills=row["skill_ids"],
        courses=row["course_ids"],
    )
    assert prof.input_text(rec.catalog, rec.context) == row["input_text"]
    plain = ASSETS / "tiny_dataset"  # a dataset from before the context: no context.json
    assert load_context_file(plain) is None
    with pytest.raises(ValueError, match="catalog context.*no catalog context"):
        evaluate_model(tiny_model, plain, out_dir=tmp_path / "report", progress=False, log=lambda *a: None)
