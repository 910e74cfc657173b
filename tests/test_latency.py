"""Issue 26, faster answers: the batched and cached paths give the plain paths' answers; the
demo's pathway picture shows the pathway; the benchmarks' "loaded machine" really is loaded."""

import os
import random
import sys
import time
from pathlib import Path

import pytest

from careerpath.app.demo import pathway_image
from careerpath.core.profile import ResolvedProfile
from careerpath.serving.planner import Planner, State
from careerpath.serving.recommend import Constraints, Recommender, _Beam

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from background_load import busy_processes  # noqa: E402


@pytest.fixture(scope="module")
def rec(tiny_model):
    return Recommender.from_pretrained(tiny_model, use_embeddings=False)


def _profiles(cat, n: int, seed: int = 3) -> list[ResolvedProfile]:
    rng = random.Random(seed)
    jobs, skills, courses = list(cat.jobs), list(cat.skills), list(cat.courses)
    return [
        ResolvedProfile(
            job=rng.choice(jobs + [None]),
            goal=rng.choice(jobs),
            skills=rng.sample(skills, rng.randint(0, 6)),
            courses=rng.sample(courses, rng.randint(0, 3)),
        )
        for _ in range(n)
    ]


def _ranking(answer: dict) -> tuple:
    return tuple(c["id"] for c in answer["next_courses"]), tuple(j["id"] for j in answer["next_jobs"])


def test_recommend_many_gives_each_profiles_own_answer(rec):
    profiles = _profiles(rec.catalog, 12)
    cons = Constraints(max_hours=30)
    one_by_one = [rec.recommend(p, top_k=5, constraints=cons) for p in profiles]
    rec.scorer._memo.clear()  # nothing remembered from the single calls
    batched = rec.recommend_many(profiles, top_k=5, constraints=cons, batch_size=5)
    assert len(batched) == len(profiles)
    for single, many in zip(one_by_one, batched):
        assert _ranking(many) == _ranking(single)
        assert many["input_text"] == single["input_text"] and many["profile"] == single["profile"]
        for a, b in zip(
            single["next_courses"] + single["next_jobs"], many["next_courses"] + many["next_jobs"]
        ):
            assert b["probability"] == pytest.approx(a["probability"], abs=2e-4)
            assert b["reason"] == a["reason"]
    # the rows are not mixed up: different profiles get different inputs and answers
    assert len({a["input_text"] for a in batched}) == len(profiles)
    with pytest.raises(ValueError, match="batch_size 0"):
        rec.recommend_many(profiles, batch_size=0)


def test_cached_integer_programs_give_a_fresh_planners_plans(rec):
    """The planner's program cache (keyed by what a program is built from) changes no plan: a
    planner that has planned many other profiles answers like one that planned nothing."""
    warm = rec.planner
    allowed = bytes([1]) * len(rec.catalog.courses)
    profiles = _profiles(rec.catalog, 30, seed=7)
    for p in profiles:  # fill the caches
        warm.shortest(State(p.job, frozenset(p.skills)), p.goal, allowed)
    for p in profiles[::-1]:
        fresh = Planner(rec.catalog, rec.progression, rec.move_threshold)
        for mode in ("hours", "steps"):
            a = warm.shortest(State(p.job, frozenset(p.skills)), p.goal, allowed, mode=mode)
            b = fresh.shortest(State(p.job, frozenset(p.skills)), p.goal, allowed, mode=mode)
            assert (a is None) == (b is None)
            if a is not None:
                assert (a.courses, a.hours) == (b.courses, b.hours)


def test_a_skill_no_job_of_the_route_weighs_reuses_the_program(rec, monkeypatch):
    cat = rec.catalog
    planner = Planner(cat, rec.progression, rec.move_threshold)
    allowed = bytes([1]) * len(cat.courses)
    job, goal = next(
        (a, b)
        for a in cat.jobs
        for b in cat.jobs
        if a != b and planner.direct_ok(a, goal=b) and planner.shortest(State(a, frozenset()), b, allowed)
    )
    path = planner.paths(job, goal)[0]
    planner = Planner(cat, rec.progression, rec.move_threshold)  # nothing cached yet
    weighed = {s for j in path for s in cat.jobs[j].skills}
    weighed |= {q for c in cat.courses.values() for q in c.prerequisites}
    spare = next(s for s in cat.skills if s not in weighed)
    calls = []
    real = planner._program
    monkeypatch.setattr(planner, "_program", lambda *a: calls.append(a) or real(*a))
    first = planner._solve(State(job, frozenset()), path, allowed, "hours")
    again = planner._solve(State(job, frozenset({spare})), path, allowed, "hours")
    assert again == first and len(calls) == 1
    # a skill the route's jobs weigh makes another program
    some = next(iter(cat.jobs[goal].skills))
    planner._solve(State(job, frozenset({some})), path, allowed, "hours")
    assert len(calls) == 2


def test_pathway_picture_draws_one_bar_per_step_as_long_as_its_coverage(rec):
    prof = _profiles(rec.catalog, 40, seed=11)
    path = next(
        p
        for p in (rec.pathway(x).as_dict() for x in prof)
        if len(p["steps"]) >= 2 and any(s["kind"] == "job" for s in p["steps"])
    )
    img = pathway_image(path)
    assert img.mode == "RGB" and img.width == 630
    longer = pathway_image({**path, "steps": path["steps"] + path["steps"][-1:]})
    assert longer.height - img.height == 40  # one row per step
    left, plot_w, top, row = 34, 630 - 34 - 16, 34, 40
    for i, s in enumerate(path["steps"]):
        y = top + row * i + row // 2 + 10  # inside the bar, below its label
        share = min(max(s["goal_coverage"], 0.02), 1.0)
        inside = img.getpixel((left + max(2, int(plot_w * share) - 3), y))
        outside = img.getpixel((min(left + int(plot_w * share) + 4, left + plot_w - 2), y))
        assert inside == ((47, 111, 222) if s["kind"] == "course" else (26, 154, 92))
        if share < 0.98:
            assert outside == (255, 255, 255)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU time from /proc")
def test_busy_processes_spin_while_measured_and_stop_after():
    with busy_processes(2) as pids:
        assert len(pids) == 2
        time.sleep(0.6)
        assert all(_cpu_seconds(p) > 0.05 for p in pids)  # they burn CPU, not sleep
    for p in pids:
        assert not Path(f"/proc/{p}").exists() or open(f"/proc/{p}/stat").read().split()[2] == "Z"
    with pytest.raises(ValueError, match="--load -1"):
        with busy_processes(-1):
            pass


def test_planning_states_and_their_texts_match_the_full_replay(rec):
    """The guided planner asks the model about states built without explanations, and remembers
    their texts: the same states and texts as the explained replay and a fresh build."""
    for prof in _profiles(rec.catalog, 25, seed=5):
        path = rec.pathway(prof)
        seq = [s.id for s in path.steps if s.kind == "course"]
        start = rec.resolve(prof)
        beam0 = _Beam(
            start.job,
            set(start.skills),
            list(start.courses),
            list(start.history) or ([start.job] if start.job else []),
        )
        for k in range(len(seq) + 1):
            full = rec._replay(beam0, seq[:k], prof.goal, [], [])
            lean = rec._state_after(beam0, seq[:k], prof.goal)
            assert (lean.job, lean.skills, lean.courses, lean.history) == (
                full.job,
                full.skills,
                full.courses,
                full.history,
            )
            assert rec._text_of(lean, prof.goal) == rec._make_text(full, prof.goal)
