"""People who state no goal and profiles that are only a job are in the training data, read by one
rule everywhere: no goal means heading where the job most often leads (Progression.default_next,
through GapRetriever.goal_for), in synthesis, in the texts' context and in both priors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from careerpath.core.catalog import load_catalog
from careerpath.core.context import retriever_for
from careerpath.core.textformat import parse_input
from careerpath.data.build import build_dataset, load_data_config
from careerpath.data.synthesis import RowWriter, event_to_row
from careerpath.model.job_prior import JobPrior
from careerpath.model.prior import EXCLUDED, LatentClassPrior
from tests.conftest import ROOT
from tests.test_prior import PLANTED


def _build(tmp_path, **overrides):
    cfg = load_data_config(ROOT / "configs" / "data" / "default.yaml", {"users": 150, **overrides})
    out = tmp_path / "data"
    build_dataset(cfg, out, progress=False)
    rows = [
        json.loads(x)
        for s in ("train", "validation", "test")
        for x in (out / f"{s}.jsonl").read_text().splitlines()
    ]
    return cfg, out, rows


@pytest.mark.slow
def test_default_config_has_people_with_no_goal_and_job_only_profiles(tmp_path):
    cfg, out, rows = _build(tmp_path)
    assert cfg.synthesis.no_goal_share > 0 and cfg.synthesis.job_only_share > 0
    cat = load_catalog(out / "catalog")
    r = retriever_for(out, cat)
    firsts = {}
    for row in rows:
        firsts.setdefault(row["user_id"], row)
    no_goal = [f for f in firsts.values() if not f["goal_id"]]
    share = len(no_goal) / len(firsts)
    assert 0.1 < share < 0.32, share  # 20% of users in expectation
    job_only = [
        f
        for f in no_goal
        if f["history_ids"] == [f["job_id"]] and set(f["skill_ids"]) == set(cat.jobs[f["job_id"]].skills)
    ]
    assert job_only, "no job-only profile was drawn"
    for f in no_goal:
        text = parse_input(f["input_text"], strict=False)
        assert text.goal == "" and f["goal"] == ""
        # the context shows the next step the rule gives: where the job most often leads
        assert f["next_step_id"] == r.next_step(f["job_id"], "")
        assert r.goal_for(f["job_id"], "") == r.progression.default_next(f["job_id"])


def test_goal_for_is_the_one_rule(tmp_path):
    _, out, _ = _build(tmp_path, users=20)
    cat = load_catalog(out / "catalog")
    r = retriever_for(out, cat)
    job = next(j for j in cat.jobs if r.progression.default_next(j))
    other = next(j for j in cat.jobs if j != job)
    assert r.goal_for(job, other) == other
    assert (
        r.goal_for(job, "")
        == r.goal_for(job, None)
        == r.goal_for(job, "not-a-job")
        == r.progression.default_next(job)
    )
    assert r.goal_for("not-a-job", "") == ""
    # the gap scores of a goal-less profile are those of the default goal
    skills = list(cat.jobs[job].skills)[:2]
    a, b = r.scores(job, "", skills)[1], r.scores(job, r.goal_for(job, ""), skills)[1]
    assert np.array_equal(a, b) and np.isfinite(a).any()


def test_priors_read_a_goal_less_row_as_serving_does(tmp_path):
    _, out, rows = _build(tmp_path, users=60)
    cat = load_catalog(out / "catalog")
    r = retriever_for(out, cat)
    course, job = (
        LatentClassPrior(r, PLANTED, 0.08),
        JobPrior(r, {"move": 0.8, "lateral": 0.03, "abandon": 0.04, "floor": 0.001}),
    )
    no_goal = [row for row in rows if not row["goal_id"]][:20]
    assert no_goal
    for row in no_goal:
        v = course.for_row(row)
        assert np.array_equal(v, course.for_text(row["input_text"]))  # the text and the row agree
        assert (v > EXCLUDED / 2).any()
        # the rule's gap is the generator's: the course it made likeliest closes part of the gap
        gen = row["probs"]["course"]
        if gen and max(gen.values()) > 0.2:
            best = max(gen, key=gen.get)
            gap = r.scores(row["job_id"], "", row["skill_ids"], row["course_ids"])[1]
            assert gap[course.course_ids.index(best)] > 0, (row["user_id"], best)
        hop, _ = job.candidates(row["job_id"], "")
        assert hop == row["next_step_id"]


def test_fast_writer_and_plain_rows_agree_for_goal_less_people(tmp_path):
    cfg, out, _ = _build(tmp_path, users=30)
    from careerpath.core.progression import Progression
    from careerpath.data.synthesis import Synthesiser

    cat = load_catalog(out / "catalog")
    synth = Synthesiser(
        cat, Progression(cat, n_next=cfg.n_next_jobs, n_courses=cfg.n_courses_per_job), cfg.synthesis
    )
    ctx = retriever_for(out, cat)
    writer = RowWriter(cat, ctx)
    seen = 0
    for i in range(30):
        for ev in synth.user(i):
            assert writer.line(ev) == json.dumps(event_to_row(ev, cat, ctx), ensure_ascii=False) + "\n"
            seen += not ev.goal_stated
    assert seen
