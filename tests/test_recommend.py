"""Recommendation engine: catalog-only output, exclusions, pathways, explanations, resolution, CLI JSON."""

import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from careerpath.app.cli import main
from careerpath.core.catalog import load_catalog
from careerpath.core.profile import ProfileResolver, ResolvedProfile
from careerpath.core.progression import coverage
from careerpath.model.scoring import CatalogScorer
from careerpath.serving.recommend import Constraints, Recommender


@pytest.fixture(scope="module")
def rec(tiny_model):
    return Recommender.from_pretrained(tiny_model, use_embeddings=False)


def _random_profile(cat, rng):
    jobs, skills, courses = list(cat.jobs), list(cat.skills), list(cat.courses)
    return ResolvedProfile(
        job=rng.choice(jobs + [None]),
        goal=rng.choice(jobs),
        skills=rng.sample(skills, rng.randint(0, 6)),
        courses=rng.sample(courses, rng.randint(0, 4)),
    )


def test_model_travels_with_its_catalog(tiny_model, tiny_dataset, rec):
    """The model folder holds the catalog it was trained on, and the recommender reads that one."""
    saved, built = load_catalog(tiny_model / "catalog"), load_catalog(tiny_dataset / "catalog")
    assert {c: x.title for c, x in saved.courses.items()} == {c: x.title for c, x in built.courses.items()}
    assert {j: x.skills for j, x in saved.jobs.items()} == {j: x.skills for j, x in built.jobs.items()}
    assert set(rec.catalog.courses) == set(saved.courses) and set(rec.catalog.jobs) == set(saved.jobs)


def test_only_catalog_items_and_never_taken_courses(rec):
    rng, cat = random.Random(0), rec.catalog
    for _ in range(25):
        prof = _random_profile(cat, rng)
        out = rec.recommend(prof, top_k=5)
        assert out["next_courses"] and out["next_jobs"]
        for c in out["next_courses"]:
            assert c["id"] in cat.courses and c["title"] == cat.courses[c["id"]].title
            assert c["id"] not in prof.courses
        assert all(j["id"] in cat.jobs and j["id"] != prof.job for j in out["next_jobs"])
        probs = [c["probability"] for c in out["next_courses"]]
        assert probs == sorted(probs, reverse=True)


def test_exclusions_and_caps_are_honoured(rec):
    cat = rec.catalog
    prof = ResolvedProfile(job="data-analyst", goal="data-scientist", skills=["sql"])
    first = rec.recommend(prof, top_k=26)["next_courses"]

    def left_without(provider: str) -> int:  # catalog courses the other constraints still allow
        return sum(c.provider != provider and c.hours <= 40 and c.level <= 2 for c in cat.courses.values())

    # a recommended course's provider, leaving enough courses (the tiny catalog has two providers)
    banned_provider = next(c["provider"] for c in first if left_without(c["provider"]) >= 8)
    banned_course = next(c["title"] for c in first if c["provider"] != banned_provider)
    cons = Constraints(
        exclude_courses=[banned_course],
        exclude_providers=[banned_provider.upper()],
        max_hours=40,
        max_level=2,
    )
    out = rec.recommend(prof, top_k=26, constraints=cons)["next_courses"]
    assert len(out) >= 5, "the constraints should leave courses to recommend"
    for c in out:
        course = cat.courses[c["id"]]
        assert course.provider != banned_provider and course.title != banned_course
        assert course.hours <= 40 and course.level <= 2
    path = rec.pathway(prof, max_steps=6, constraints=cons)
    for s in path.steps:
        if s.kind == "course":
            c = cat.courses[s.id]
            assert c.provider != banned_provider and c.hours <= 40 and c.level <= 2


@pytest.mark.slow
def test_pathways_reach_reachable_goals_with_consistent_steps(rec):
    cat, rng = rec.catalog, random.Random(1)
    for _ in range(20):
        prof = _random_profile(cat, rng)
        if (
            prof.job is None
            or prof.job not in rec.progression.distances_to(prof.goal)
            or prof.goal == prof.job
        ):
            continue
        path = rec.pathway(prof)
        assert path.goal["id"] == prof.goal
        start = rec.resolve(prof)  # with the job's skills when the profile has none
        assert start.skills_assumed == (not prof.skills and not prof.courses)
        skills, cov = set(start.skills) | {s for c in prof.courses for s in cat.courses[c].skills}, -1.0
        taken = set(prof.courses)
        for s in path.steps:
            if s.kind == "course":
                course = cat.courses[s.id]
                assert s.id not in taken and set(course.prerequisites) <= skills
                assert s.skills_gained == cat.skill_names([x for x in course.skills if x not in skills])
                skills |= set(course.skills)
                taken.add(s.id)
            else:
                assert s.id in cat.jobs and coverage(skills, cat.jobs[s.id]) >= rec.move_threshold
            assert s.goal_coverage >= cov - 1e-9  # skills only accumulate
            cov = s.goal_coverage
            assert set(s.gap_left) == set(
                cat.skill_names([x for x in cat.jobs[prof.goal].skills if x not in skills])
            )
        assert path.reached == (path.steps[-1].id == prof.goal if path.steps else prof.job == prof.goal)
        assert path.reached, f"{prof.job} -> {prof.goal} not reached: {path.note}"
        assert path.total_hours == pytest.approx(sum(s.hours for s in path.steps))
        assert path.hours_ratio is not None and path.hours_ratio <= 1.2 + 1e-9


def test_explanations_name_catalog_skills(rec):
    cat = rec.catalog
    prof = ResolvedProfile(job="data-analyst", goal="data-scientist", skills=["sql", "excel"])
    for c in rec.recommend(prof, top_k=10)["next_courses"]:
        course = cat.courses[c["id"]]
        assert c["skills_added"] == cat.skill_names([s for s in course.skills if s not in prof.skills])
        if c["reason"].startswith("covers "):
            named = c["reason"][len("covers ") :].split(", needed for")[0].split(", ")
            required = set(cat.jobs["data-scientist"].skills) | set(cat.jobs["data-analyst"].skills)
            assert set(named) <= set(cat.skill_names([s for s in course.skills if s in required]))


def test_cold_start_gets_a_pathway(rec):
    path = rec.pathway({"skills": ["Communication"]}, goal="Data Analyst", max_steps=8)
    assert path.steps and path.steps[0].kind == "course"


def test_free_text_and_misspellings_resolve(tiny_catalog_dir):
    r = ProfileResolver(load_catalog(tiny_catalog_dir), use_embeddings=False)
    p = r.from_text(
        "Hi, I'm Maria (she/her, 34). I'm a BI analyst, I know SQL, Phyton and stats; I want to become an ML engineer."
    )
    assert (p.job, p.goal) == ("data-analyst", "ml-engineer")
    assert {"sql", "python", "statistics"} <= set(p.skills)
    p = r.from_fields(
        job="Sofware Enginer", skills=["Javascipt", "K8s", "underwater basket weaving"], goal="devops"
    )
    assert p.job == "software-engineer" and p.goal == "devops-engineer"
    assert p.skills == ["javascript", "kubernetes"]
    assert any("underwater basket weaving" in w for w in p.warnings)


def test_embeddings_resolve_paraphrased_titles(tiny_catalog_dir):
    r = ProfileResolver(load_catalog(tiny_catalog_dir), use_embeddings=True)
    job, how = r.resolve("job", "machine learning developer")
    assert job == "ml-engineer" and how.startswith("embedding")


def _renormalised(raw):
    raw = np.array(raw)
    return raw - raw.max() - np.log(np.exp(raw - raw.max()).sum())


def _likelihood(model, enc, ids):
    with torch.no_grad():
        return -model(**enc, labels=torch.tensor([ids])).loss.item() * len(ids)


@pytest.mark.slow
def test_scorer_matches_the_models_own_likelihood(rec):
    """The catalog-wide ranking is the model's log-likelihood of each candidate, renormalised:
    the whole ``next_course: <title> |`` in the general path, the title token in the fast path."""
    text = ResolvedProfile(job="data-analyst", goal="data-scientist", skills=["sql"]).input_text(rec.catalog)
    general = CatalogScorer(rec.scorer.model, rec.scorer.tok, rec.catalog, fast=False)
    enc = general.tok([text], return_tensors="pt")
    full = _renormalised([_likelihood(general.model, enc, ids) for ids in general.course_tokens])
    assert np.allclose(general.score_courses([text])[0], full, atol=1e-4)

    fast = rec.scorer
    assert fast.fast, "the tiny T5 has one token per catalog name"
    assert fast.prior is not None, "the tiny T5 trains with the course prior (train.course_prior auto)"
    # the model's own next-token likelihood plus the course prior (careerpath/model/prior.py), renormalised
    alone = _renormalised(
        [_likelihood(fast.model, enc, fast.course_prefix + [t]) for t in fast.course_single]
    )
    # with the say validation gave the model (model_scale; 0 when it did not beat its prior) ...
    scale = fast.prior.model_scale
    chosen = fast.score_courses([text])[0]
    assert np.allclose(chosen, _renormalised(scale * alone + fast.prior.for_text(text)), atol=1e-4)
    # ... and with its full say: the model's likelihood plus the prior
    fast.prior.model_scale = 1.0
    fast._memo.clear()
    try:
        first = _renormalised(alone + fast.prior.for_text(text))
        course_lp = fast.score_courses([text])[0]
    finally:
        fast.prior.model_scale = scale
        fast._memo.clear()
    assert np.allclose(course_lp, first, atol=1e-4) and np.isclose(np.exp(course_lp).sum(), 1.0)
    course_lp = chosen
    course_lp2, job_lp = fast.score([text], [["sql"]])
    assert np.allclose(course_lp2[0], course_lp) and np.isclose(np.exp(job_lp[0]).sum(), 1.0)
    g_course, g_job = general.score([text], [["sql"]])  # without the prior: the model's own
    assert g_course.argmax() == alone.argmax() or np.isclose(alone.max(), alone[g_course.argmax()], atol=0.05)


def test_cli_json_is_the_whole_stdout_of_a_fresh_process(tiny_model):
    """A fresh process: the solver's once-per-process output (HiGHS's banner at its first use) comes
    while this command plans, and must not reach stdout (in the test process it came earlier)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    argv = ["--job", "Data Analyst", "--skills", "SQL", "--goal", "Machine Learning Engineer", "--json"]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "careerpath",
            "recommend",
            "--model",
            str(tiny_model),
            "--no-embeddings",
            *argv,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["pathway"]["reached"] and out["pathway"]["steps"]


def test_cli_json_schema_is_stable(tiny_model, capfd):
    """(capfd: what the solver libraries write to the C-level stdout must not corrupt the JSON.)"""
    code = main(
        [
            "recommend",
            "--model",
            str(tiny_model),
            "--job",
            "Data Analyst",
            "--skills",
            "SQL, Excel",
            "--goal",
            "Data Scientist",
            "--top-k",
            "3",
            "--no-embeddings",
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capfd.readouterr().out)
    assert set(out) == {"profile", "input_text", "warnings", "next_courses", "next_jobs", "p_stay", "pathway"}
    assert set(out["next_courses"][0]) == {
        "kind",
        "id",
        "title",
        "probability",
        "skills_added",
        "reason",
        "hours",
        "provider",
        "level",
    }
    assert set(out["pathway"]) == {
        "goal",
        "steps",
        "reached",
        "total_hours",
        "confident",
        "fallback",
        "note",
        "shortest_hours",
        "hours_ratio",
        "course_steps",
        "milestones",
        "missing",
        "placeholders",
    }
    assert set(out["pathway"]["steps"][0]) == {
        "kind",
        "id",
        "title",
        "skills_gained",
        "gap_left",
        "goal_coverage",
        "hours",
        "probability",
        "reason",
        "source",
        "provider",
        "important",
        "placeholder",
    }
    main(
        [
            "recommend",
            "--model",
            str(tiny_model),
            "--text",
            "I am a data analyst and want to become a data scientist",
            "--no-embeddings",
        ]
    )
    text = capfd.readouterr().out
    assert "pathway to Data Scientist" in text and "x the shortest plan" in text and "milestone 1:" in text


@pytest.mark.slow
def test_diversify_spreads_top_courses_over_clusters(tiny_model, tmp_path):
    """With clusters written into the catalog, --diversify caps any one cluster at ceil(k / n)."""
    from careerpath.core.catalog import load_catalog
    from careerpath.serving.recommend import Recommender

    rec = Recommender.from_pretrained(tiny_model, use_embeddings=False)
    prof = rec.resolve({"job": "Data Analyst", "skills": ["SQL"]}, goal="Data Scientist")
    plain = [c["id"] for c in rec.recommend(prof, top_k=4)["next_courses"]]
    # put the plain top 3 in one cluster and every other course in clusters of its own
    cat = load_catalog(tiny_model / "catalog")
    from dataclasses import replace

    cat.courses = {
        cid: replace(c, cluster=0 if cid in plain[:3] else i + 1)
        for i, (cid, c) in enumerate(cat.courses.items())
    }
    cat.save(tmp_path / "clustered")
    rec = Recommender.from_pretrained(tiny_model, catalog_dir=tmp_path / "clustered", use_embeddings=False)
    spread = [c["id"] for c in rec.recommend(prof, top_k=4, diversify=True)["next_courses"]]
    assert len(spread) == 4 and spread[0] == plain[0]
    assert sum(c in plain[:3] for c in spread) == 1  # 4 clusters present: at most one from cluster 0


def test_demand_weight_favours_in_demand_jobs_and_skills(tiny_model, tmp_path):
    """Market demand (e.g. O*NET Hot Technology flags) re-ranks; shown probabilities stay the model's."""
    from dataclasses import replace

    from careerpath.core.catalog import load_catalog
    from careerpath.serving.recommend import Recommender

    rec = Recommender.from_pretrained(tiny_model, use_embeddings=False)
    prof = rec.resolve({"job": "Data Analyst", "skills": ["SQL"]})
    plain = rec.recommend(prof, top_k=20)
    last_job = plain["next_jobs"][-1]["id"]
    # the lowest-ranked course of the list that the person can take (the course prior excludes
    # the rest) and that would add a skill
    can_take = rec.scorer.prior.eligible(prof.skills, prof.courses)
    last_course = next(
        c
        for c in reversed(plain["next_courses"])
        if any(s not in prof.skills for s in rec.catalog.courses[c["id"]].skills)
        and can_take[rec.scorer.course_ids.index(c["id"])]
    )
    hot_skill = next(s for s in rec.catalog.courses[last_course["id"]].skills if s not in prof.skills)
    cat = load_catalog(tiny_model / "catalog")
    cat.jobs = {j: replace(v, demand=1.0 if j == last_job else 0.0) for j, v in cat.jobs.items()}
    cat.skills = {s: replace(v, demand=1.0 if s == hot_skill else 0.0) for s, v in cat.skills.items()}
    cat.save(tmp_path / "hot")
    rec = Recommender.from_pretrained(tiny_model, catalog_dir=tmp_path / "hot", use_embeddings=False)
    assert rec.recommend(prof, top_k=20)["next_jobs"][-1]["id"] == last_job  # off by default
    hot = rec.recommend(prof, top_k=20, demand_weight=50.0)
    assert hot["next_jobs"][0]["id"] == last_job
    assert hot["next_courses"][0]["skills_added"] and hot_skill in [
        s for s in rec.catalog.courses[hot["next_courses"][0]["id"]].skills
    ]
    probs = {j["id"]: j["probability"] for j in plain["next_jobs"]}
    assert hot["next_jobs"][0]["probability"] == probs[last_job]


def _reference_skill_gap_plan(rec, start, goal, max_steps, cons):
    """The skill-gap fallback by a plain scan of the whole catalog per step: the one gap rule's
    value of each allowed course (a plain loop over its skills), less 0.001 per hour."""
    from careerpath.serving.recommend import PathStep, _Beam

    rule = rec._gap_rule()
    b = _Beam(start.job, set(start.skills), list(start.courses), list(start.history), 0.0, list(start.steps))
    for _ in range(max_steps):
        if b.reached(goal):
            break
        job = b.job or goal
        hop = rule.next_step(job, goal) or goal
        want = {}
        route = rule.next_step(job, goal)
        for s, w in rec.catalog.jobs[route].skills.items() if route else ():
            want[s] = want.get(s, 0.0) + w
        for s, w in rec.catalog.jobs[rule.goal_for(job, goal)].skills.items():
            want[s] = want.get(s, 0.0) + rule.cfg.goal_weight * w
        want = {s: w for s, w in want.items() if w > 0 and s not in b.skills}
        value = dict(want)
        for c in rec.catalog.courses.values():  # a missing prerequisite of a wanted course
            best_want = max((want.get(s, 0.0) for s in c.skills), default=0.0)
            for q in c.prerequisites:
                if best_want > 0 and q not in b.skills and q not in want:
                    value[q] = max(value.get(q, 0.0), rule.cfg.prereq_weight * best_want)
        best, best_gain = None, 0.0
        for c in rec.catalog.courses.values():
            if not rec._course_allowed(c, set(b.courses), cons) or not set(c.prerequisites) <= b.skills:
                continue
            closes = sum(value.get(s, 0.0) for s in c.skills if s not in b.skills)
            if not closes > 0:
                continue
            gain = round(closes, 9) - 0.001 * c.hours
            if gain > best_gain:
                best, best_gain = c, gain
        if best is None:
            break
        gained = rec.catalog.skill_names([s for s in best.skills if s not in b.skills])
        b.skills |= set(best.skills)
        b.courses.append(best.id)
        gap, cov = rec._goal_state(b, goal)
        reason = rec._course_reason(best, b.skills - set(best.skills), hop, goal)
        b.steps.append(
            PathStep(
                "course",
                best.id,
                best.title,
                gained,
                gap,
                round(cov, 3),
                best.hours,
                None,
                reason,
                "skill-gap fallback",
            )
        )
        rec._maybe_move(b, goal, "skill-gap fallback")
    return b


def test_skill_gap_plan_matches_the_full_catalog_scan(rec):
    from careerpath.serving.recommend import _Beam

    cat, rng = rec.catalog, random.Random(3)
    cons_options = [
        Constraints(),
        Constraints(max_hours=30, max_level=2),
        Constraints(exclude_providers=["x"]),
    ]
    for i in range(40):
        prof = _random_profile(cat, rng)
        start = _Beam(prof.job, set(prof.skills), list(prof.courses), [prof.job] if prof.job else [])
        cons = cons_options[i % len(cons_options)]
        ours = rec._skill_gap_plan(start, prof.goal, 8, cons)
        ref = _reference_skill_gap_plan(rec, start, prof.goal, 8, cons)
        assert (ours.steps, ours.courses, ours.skills, ours.job) == (
            ref.steps,
            ref.courses,
            ref.skills,
            ref.job,
        )


def test_beam_text_is_the_profiles_input_text(rec):
    from careerpath.serving.recommend import _Beam

    cat, rng = rec.catalog, random.Random(5)
    for _ in range(30):
        prof = _random_profile(cat, rng)
        history = rng.sample(list(cat.jobs), rng.randint(0, 3))
        beam = _Beam(prof.job, set(prof.skills), list(prof.courses), history)
        expected = ResolvedProfile(
            job=beam.job,
            goal=prof.goal,
            history=list(history),
            skills=sorted(beam.skills),
            courses=beam.courses,
        ).input_text(cat, rec.context)
        assert rec._text_of(beam, prof.goal) == expected
