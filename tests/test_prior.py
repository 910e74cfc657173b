"""The course prior (careerpath/model/prior.py): its values, its fit, and that the loss, generation and
catalog scoring all add the same prior to the model's next-course logits."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from careerpath.core.catalog import load_catalog
from careerpath.core.config import ConfigError, load_config
from careerpath.core.context import ContextConfig, GapRetriever, retriever_for
from careerpath.core.progression import Progression
from careerpath.model import generation
from careerpath.model.modeling import load_for_inference
from careerpath.model.prior import EXCLUDED, PRIOR_FILE, CoursePrior, LatentClassPrior, load_prior
from careerpath.model.scoring import CatalogScorer
from careerpath.training import training
from tests.conftest import ROOT, TINY_MODEL_ARGS


@pytest.fixture(scope="module")
def bundled():
    cat = load_catalog(None)
    return cat, GapRetriever(cat, Progression(cat), ContextConfig())


def test_values_match_a_plain_loop(bundled):
    cat, r = bundled
    w = {"gap": 2.5, "log_hours": -0.3, "hours": 0.05, "level": 0.2, "level*taken": -0.1}
    w |= {"level*taken_level": 0.4, "hours*taken_hours": -0.2, "log_hours*taken_level": 0.3}
    prior = CoursePrior(r, w)
    rng = np.random.default_rng(3)
    jobs, skills, courses = list(cat.jobs), list(cat.skills), list(cat.courses)
    for _ in range(60):
        job, goal = rng.choice(jobs), rng.choice(jobs)
        held = set(rng.choice(skills, size=rng.integers(0, 30), replace=False))
        taken = list(rng.choice(courses, size=rng.integers(0, 5), replace=False))
        _, gap = r.scores(job, goal, held, taken)
        got = prior.vector(job, goal, held, taken)
        done = [cat.courses[t] for t in taken]
        mean_level = sum(t.level - 1 for t in done) / len(done) if done else 0.0
        mean_hours = sum(t.hours / 10 for t in done) / len(done) if done else 0.0
        for i, c in enumerate(cat.courses.values()):
            can = c.id not in taken and set(c.prerequisites) <= held and not set(c.skills) <= held
            level, hours, log_hours = c.level - 1, c.hours / 10, math.log1p(c.hours)
            static = -0.3 * log_hours + 0.05 * hours + 0.2 * level
            if done:  # the taste the courses taken reveal
                static += -0.1 * level + 0.4 * level * mean_level - 0.2 * hours * mean_hours
                static += 0.3 * log_hours * mean_level
            if not can:
                assert got[i] == EXCLUDED, c.id
            elif np.isfinite(gap[i]):
                assert got[i] == pytest.approx(2.5 * gap[i] + static, rel=1e-5, abs=1e-5)
            else:  # eligible, closes nothing of the gap: a detour's score
                assert got[i] == pytest.approx(static, rel=1e-5, abs=1e-5)


def test_text_and_row_give_the_same_prior(tiny_dataset):
    cat = load_catalog(tiny_dataset / "catalog")
    prior = CoursePrior(retriever_for(tiny_dataset, cat), {"gap": 1.7, "log_hours": 0.1, "level": -0.2})
    rows = [json.loads(line) for line in (tiny_dataset / "train.jsonl").read_text().splitlines()[:80]]
    noted = CoursePrior(prior.retriever, prior.weights)
    for row in rows:
        assert np.array_equal(prior.for_text(row["input_text"]), prior.for_row(row))
        # the recommender notes the prior of the texts it makes, from the ids: the same vector
        noted.note(row["input_text"], row["job_id"], row["goal_id"], row["skill_ids"], row["course_ids"])
        assert np.array_equal(noted.for_text(row["input_text"]), prior.for_row(row))
        # the retriever remembers its last answer; what a caller does to its copy changes nothing
        args = (row["job_id"], row["goal_id"], row["skill_ids"], row["course_ids"])
        first = prior.retriever.scores(*args)[1]
        first[:] = 0.0
        assert np.array_equal(prior.retriever.scores(*args)[1], prior.retriever._scores(*args)[1])
        # the course actually chosen next is always one the person could take
        assert prior.for_row(row)[prior.course_ids.index(row["next_course_id"])] > EXCLUDED / 2


@pytest.mark.slow
def test_fit_recovers_the_weights_that_generated_the_choices(bundled):
    cat, r = bundled
    # people who took advanced courses prefer advanced ones (level*taken_level)
    true = {"gap": 6.0, "log_hours": -0.6, "level": 0.4, "level*taken_level": 0.8}
    gen = CoursePrior(r, true)
    rng = np.random.default_rng(0)
    jobs, skills, courses = list(cat.jobs), list(cat.skills), list(cat.courses)
    rows = []
    while len(rows) < 2000:
        job, goal = rng.choice(jobs), rng.choice(jobs)
        held = sorted(rng.choice(skills, size=rng.integers(0, 20), replace=False))
        taken = sorted(rng.choice(courses, size=rng.integers(0, 4), replace=False))
        vec = gen.vector(job, goal, held, taken)
        ok = np.flatnonzero(vec > EXCLUDED / 2)
        if not (gen.gap(job, goal, held, taken)[ok] > 0).any():
            continue
        p = np.exp(vec[ok] - vec[ok].max())
        pick = ok[rng.choice(len(ok), p=p / p.sum())]
        rows.append(
            {
                "job_id": job,
                "goal_id": goal,
                "skill_ids": held,
                "course_ids": taken,
                "next_course_id": gen.course_ids[pick],
            }
        )
    fitted = CoursePrior.fit(r, rows, max_rows=2000)
    assert fitted.weights["gap"] == pytest.approx(true["gap"], rel=0.15), fitted.weights
    # length enters twice (log(1 + hours) and hours / 10) and level with and without taste, so
    # single weights are not identified from 2000 choices; the choice probabilities are: on new
    # people who took courses, the fitted prior is close to the true one, and a prior without
    # the taste terms is not
    no_taste = CoursePrior(r, {k: v for k, v in fitted.weights.items() if "*" not in k})

    def distance(prior, job, goal, held, taken):
        a, b = gen.vector(job, goal, held, taken), prior.vector(job, goal, held, taken)
        ok = a > EXCLUDED / 2
        pa, pb = np.exp(a[ok] - a[ok].max()), np.exp(b[ok] - b[ok].max())
        return 0.5 * np.abs(pa / pa.sum() - pb / pb.sum()).sum()  # total variation

    d_fit, d_no_taste = [], []
    while len(d_fit) < 200:
        job, goal = rng.choice(jobs), rng.choice(jobs)
        held = sorted(rng.choice(skills, size=rng.integers(0, 20), replace=False))
        taken = sorted(rng.choice(courses, size=rng.integers(1, 4), replace=False))
        d_fit.append(distance(fitted, job, goal, held, taken))
        d_no_taste.append(distance(no_taste, job, goal, held, taken))
    assert np.mean(d_fit) < 0.05 and np.mean(d_no_taste) > 2 * np.mean(d_fit), (
        np.mean(d_fit),
        np.mean(d_no_taste),
    )
    with pytest.raises(ValueError, match="no row to fit"):
        CoursePrior.fit(r, [{"next_course_id": "nope"}])
    with pytest.raises(ValueError, match="finite numbers"):
        CoursePrior(r, {"gap": float("nan"), "log_hours": 0, "level": 0})
    with pytest.raises(ValueError, match="for gap and any of"):
        CoursePrior(r, {"log_hours": 1.0})
    with pytest.raises(ValueError, match="for gap and any of"):
        CoursePrior(r, {"gap": 1.0, "colour": 2.0})
    assert CoursePrior(r, {"gap": 1.0}).weights["level*taken_level"] == 0.0  # an older, smaller file


def test_training_saves_the_prior_and_the_scorer_applies_it(tiny_model, tiny_dataset):
    saved = json.loads((tiny_model / PRIOR_FILE).read_text())
    metrics = json.loads((tiny_model / "metrics.json").read_text())
    assert saved["kind"] == LatentClassPrior.KIND and len(saved["classes"]) == 3
    assert all(c["gap"] > 0 for c in saved["classes"])  # every class closes gaps
    assert metrics["course_prior_weights"]["detour"] == saved["detour"]
    assert metrics["model_scale"]["course"] == saved["model_scale"]
    assert "mixture of 3 learner classes" in (tiny_model / "README.md").read_text()
    cat = load_catalog(tiny_model / "catalog")
    prior = load_prior(tiny_model, cat)
    assert isinstance(prior, LatentClassPrior) and prior.model_scale == saved["model_scale"]
    model, tok, kind = load_for_inference(tiny_model)
    text = json.loads((tiny_dataset / "test.jsonl").read_text().splitlines()[0])["input_text"]
    alone = CatalogScorer(model, tok, cat, kind=kind).score_courses([text])[0]
    with_prior = CatalogScorer(model, tok, cat, kind=kind, prior=prior).score_courses([text])[0]
    expected = prior.model_scale * alone + prior.for_text(text)
    expected -= np.log(np.exp(expected - expected.max()).sum()) + expected.max()
    assert np.allclose(with_prior, expected, atol=1e-5)
    assert np.isclose(np.exp(with_prior).sum(), 1.0)


def test_generation_adds_the_prior_at_the_course_step(tiny_model, tiny_dataset):
    from transformers import LogitsProcessorList

    cat = load_catalog(tiny_model / "catalog")
    model, tok, kind = load_for_inference(tiny_model)
    prior = load_prior(tiny_model, cat)
    rows = [json.loads(line) for line in (tiny_dataset / "test.jsonl").read_text().splitlines()[:4]]
    texts = [r["input_text"] for r in rows]
    tokens, prefix = prior.course_tokens(tok)
    # a prior that makes one eligible course overwhelmingly likely for every row decides the course
    forced = CoursePrior(prior.retriever, {"gap": 1.0})  # only its memo is used
    pick = []
    for t in texts:
        v = prior.for_text(t)
        pick.append(int(np.flatnonzero(v > EXCLUDED / 2)[-1]))
        boosted = v.copy()
        boosted[pick[-1]] += 1e3
        forced._memo[t] = boosted
    enc = tok(texts, return_tensors="pt", padding=True)
    start = model.config.decoder_start_token_id
    for beams in (1, 3):
        # decoding from "<start> next_course:", the next token is the course the prior forces
        dec = torch.tensor([[start, *prefix]] * len(texts))
        procs = LogitsProcessorList([forced.processor(tok, texts, beams)])
        out = model.generate(
            **enc,
            decoder_input_ids=dec,
            num_beams=beams,
            max_new_tokens=3,
            logits_processor=procs,
            do_sample=False,
        )
        assert out[:, len(prefix) + 1].tolist() == [tokens[i] for i in pick]
        # elsewhere the processor leaves the scores alone
        scores = torch.randn(len(texts) * beams, len(tok))
        assert torch.equal(procs[0](dec.repeat_interleave(beams, 0)[:, :1], scores), scores)
    # generation.generate takes the prior through to transformers' generate
    assert len(generation.generate(model, tok, kind, texts, max_new_tokens=8, prior=prior)) == len(texts)


def test_loss_is_cross_entropy_of_the_logits_plus_the_prior(tiny_model, tiny_dataset):
    cat = load_catalog(tiny_model / "catalog")
    model, tok, _ = load_for_inference(tiny_model)
    cfg = load_config(
        ["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--data.data-dir", str(tiny_dataset)]
    )
    rows = [json.loads(line) for line in (tiny_dataset / "train.jsonl").read_text().splitlines()[:6]]
    soft = training.SoftTargets.from_catalog(tok, tiny_dataset)
    prior = load_prior(tiny_model, cat)
    for r in rows:  # hard labels: the prior alone changes the loss
        r.pop("probs_visible", None)
    examples = training.encode_rows(rows, tok, "seq2seq", cfg, soft, prior)
    assert all("prior" in e for e in examples)
    batch = training.make_collate(tok.pad_token_id)(examples)
    tokens = torch.tensor([soft.course_token[c] for c in prior.course_ids])
    model.train()
    got = training._loss(model, dict(batch), None, 1.0, None, None, tokens)
    logits = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "labels")}).logits.float()
    for i, e in enumerate(examples):
        logits[i, e["prior"][0], tokens] += torch.from_numpy(e["prior"][1])
    want = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=-100
    )
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    plain = training._loss(model, {k: batch[k] for k in ("input_ids", "attention_mask", "labels")}, None, 1.0)
    assert not math.isclose(plain.item(), got.item(), rel_tol=1e-3)
    with pytest.raises(ValueError, match="prior_tokens"):
        training._loss(model, dict(batch), None, 1.0)


def test_load_refuses_a_broken_or_orphan_prior(tiny_model, tmp_path):
    cat = load_catalog(tiny_model / "catalog")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / PRIOR_FILE).write_text("{}")
    with pytest.raises(ValueError, match="not a valid course prior"):
        load_prior(broken, cat)
    orphan = tmp_path / "orphan"
    shutil.copytree(tiny_model, orphan)
    (orphan / "context.json").unlink()
    with pytest.raises(ValueError, match="needs the catalog context"):
        load_prior(orphan, cat)
    (orphan / PRIOR_FILE).unlink()
    assert load_prior(orphan, cat) is None


def test_config_checks_and_always_needs_single_token_courses(tiny_dataset, tmp_path):
    base = ["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--data.data-dir", str(tiny_dataset)]
    with pytest.raises(ConfigError, match="course_prior"):
        load_config([*base, "--train.course-prior", "maybe"])
    cfg = load_config(
        [
            *base,
            "--train.output-dir",
            str(tmp_path / "m"),
            *TINY_MODEL_ARGS,
            "--train.course-prior",
            "always",
            "--train.soft-targets",
            "never",
        ]
    )
    with pytest.raises(ValueError, match="course-prior always needs"):
        training.run_training(cfg)


def test_evaluation_reports_the_prior_alone_and_the_model_alone(tiny_model, tiny_dataset, tmp_path):
    from careerpath.eval.baselines import GapRuleScorer
    from careerpath.eval.evaluation import LABELS, PriorScorer, evaluate_model, render_report

    cat = load_catalog(tiny_model / "catalog")
    prior = load_prior(tiny_model, cat)
    rows = [json.loads(line) for line in (tiny_dataset / "test.jsonl").read_text().splitlines()[:20]]
    course, job = PriorScorer(prior, GapRuleScorer(prior.retriever, list(cat.jobs))).score(rows)
    assert np.allclose(np.exp(course).sum(1), 1.0) and np.allclose(np.exp(job).sum(1), 1.0)
    assert (course.argmax(1) == np.stack([prior.for_row(r) for r in rows]).argmax(1)).all()
    m = evaluate_model(
        tiny_model,
        tiny_dataset,
        out_dir=tmp_path / "eval",
        max_examples=40,
        generation_examples=0,
        bias=False,
        progress=False,
        log=lambda _: None,
    )
    assert {"course_prior", "model_no_prior", "gap_rule"} <= set(m["baselines"])
    report = render_report(m)
    assert LABELS["course_prior"] in report and LABELS["model_no_prior"] in report


# -- the latent-class prior ------------------------------------------------------------------------
PLANTED = [  # three learner types: quick (short, basic), balanced, deep (long, advanced)
    {"share": 0.3, "gap": 8.0, "log_hours": 2.0, "hours": -3.0, "level": -1.0},
    {"share": 0.4, "gap": 8.0, "log_hours": 0.0, "hours": 0.0, "level": 0.0},
    {"share": 0.3, "gap": 8.0, "log_hours": -1.0, "hours": 1.5, "level": 2.5},
]


def _plain_latent(prior: LatentClassPrior, job, goal, held, taken) -> np.ndarray:
    """The latent-class prior written out course by course, from its docstring."""
    cat = prior.catalog

    def p_class(beta, skills, before, chosen=None):
        _, gap = prior.retriever.scores(job, goal, skills, before)
        opts = []
        for i, c in enumerate(cat.courses.values()):
            can = c.id not in before and set(c.prerequisites) <= skills and not set(c.skills) <= skills
            if can or i == chosen:
                opts.append(i)
        useful = [i for i in opts if np.isfinite(gap[i]) and gap[i] > 0]
        p = np.zeros(len(cat.courses))
        if not useful:
            p[opts] = 1.0 / len(opts) if opts else 0.0
            return p
        for i in opts:
            p[i] = prior.detour / len(opts)
        z = {i: sum(b * v for b, v in zip(beta, _x(c_i=i, gap=gap[i], cat=cat))) for i in useful}
        top = max(z.values())
        norm = sum(math.exp(v - top) for v in z.values())
        for i in useful:
            p[i] += (1 - prior.detour) * math.exp(z[i] - top) / norm
        return p

    betas = [[c[f] for f in ("gap", "log_hours", "hours", "level")] for c in prior.classes]
    shares = np.array([c["share"] for c in prior.classes]) / sum(c["share"] for c in prior.classes)
    ids = list(cat.courses)
    skills = set(held) - set().union(*(set(cat.courses[t].skills) for t in taken))
    w = shares.copy()
    for k, t in enumerate(taken):
        for j, beta in enumerate(betas):
            w[j] *= p_class(beta, skills, list(taken[:k]), ids.index(t))[ids.index(t)]
        skills |= set(cat.courses[t].skills)
    w /= w.sum()
    return sum(wj * p_class(beta, set(held), list(taken)) for wj, beta in zip(w, betas))


def _x(c_i, gap, cat):
    c = list(cat.courses.values())[c_i]
    return (gap, math.log1p(c.hours), c.hours / 10, c.level - 1)


def test_latent_class_prior_matches_a_plain_loop(bundled):
    cat, r = bundled
    prior = LatentClassPrior(r, PLANTED, 0.08)
    rng = np.random.default_rng(5)
    jobs, skills, courses = list(cat.jobs), list(cat.skills), list(cat.courses)
    checked = 0
    while checked < 25:
        job, goal = rng.choice(jobs), rng.choice(jobs)
        held = set(rng.choice(skills, size=rng.integers(0, 25), replace=False))
        taken = list(rng.choice(courses, size=rng.integers(0, 4), replace=False))
        held |= {s for t in taken for s in cat.courses[t].skills}  # what the courses taught is held
        want = _plain_latent(prior, job, goal, held, taken)
        got = prior.vector(job, goal, held, taken)
        ok = want > 0
        assert np.array_equal(got > EXCLUDED / 2, ok)
        assert np.allclose(np.exp(got[ok]), want[ok], rtol=1e-4, atol=1e-7)
        checked += 1


def test_past_choices_memo_changes_no_posterior_and_stays_bounded(bundled, monkeypatch):
    """A pathway asks again for the same earlier choices at every step: the memo answers them,
    with the same posterior as a prior that computes each from scratch, and never grows past its cap."""
    from careerpath.model import prior_latent

    cat, r = bundled
    monkeypatch.setattr(prior_latent, "PAST_MEMO", 40)
    warm, cold = LatentClassPrior(r, PLANTED, 0.08), LatentClassPrior(r, PLANTED, 0.08)
    rng = np.random.default_rng(11)
    jobs, skills, courses = list(cat.jobs), list(cat.skills), list(cat.courses)
    for _ in range(12):
        job, goal = rng.choice(jobs), rng.choice(jobs)
        held = set(rng.choice(skills, size=rng.integers(0, 20), replace=False))
        plan = list(rng.choice(courses, size=6, replace=False))
        for k in range(len(plan) + 1):  # the states a guided plan passes through, then again
            taken = plan[:k]
            now = held | {s for t in taken for s in cat.courses[t].skills}
            for _ in range(2):
                cold._past.clear()
                assert np.array_equal(
                    warm.posterior(job, goal, now, taken), cold.posterior(job, goal, now, taken)
                )
            assert len(warm._past) <= 40
    assert warm._past  # it was used


def _simulate(prior: LatentClassPrior, cat, n_people: int, seed: int) -> list[dict]:
    """People of the planted classes, each taking courses one after another by the prior's own
    class distribution: rows as a dataset has them."""
    rng = np.random.default_rng(seed)
    jobs, skills = list(cat.jobs), list(cat.skills)
    shares = np.array([c["share"] for c in prior.classes])
    rows = []
    for _ in range(n_people):
        k = rng.choice(len(shares), p=shares / shares.sum())
        one = LatentClassPrior(prior.retriever, [prior.classes[k]], prior.detour)
        job, goal = rng.choice(jobs), rng.choice(jobs)
        held = set(rng.choice(skills, size=rng.integers(0, 15), replace=False))
        taken: list[str] = []
        for _ in range(rng.integers(1, 7)):
            v = one.vector(job, goal, held, taken).astype(np.float64)
            if (v <= EXCLUDED / 2).all():
                break
            p = np.exp(v - v.max())
            pick = prior.course_ids[rng.choice(len(p), p=p / p.sum())]
            rows.append(
                {
                    "job_id": job,
                    "goal_id": goal,
                    "skill_ids": sorted(held),
                    "course_ids": list(taken),
                    "next_course_id": pick,
                }
            )
            taken.append(pick)
            held |= set(cat.courses[pick].skills)
    return rows


@pytest.mark.slow
def test_latent_class_fit_reads_taste_that_the_mean_taste_prior_misses(bundled):
    cat, r = bundled
    true = LatentClassPrior(r, PLANTED, 0.08)
    rows = _simulate(true, cat, 700, seed=11)
    fitted = LatentClassPrior.fit(r, rows, classes=3, restarts=2)
    mean_taste = CoursePrior.fit(r, rows)
    test = [row for row in _simulate(true, cat, 150, seed=12) if row["course_ids"]]

    def distance(prior, row):
        a = true.for_row(row).astype(np.float64)
        b = prior.for_row(row).astype(np.float64)
        ok = a > EXCLUDED / 2
        pa, pb = np.exp(a[ok] - a[ok].max()), np.exp(b[ok] - b[ok].max())
        return 0.5 * np.abs(pa / pa.sum() - pb / pb.sum()).sum()

    d_fit = np.mean([distance(fitted, row) for row in test])
    d_mean = np.mean([distance(mean_taste, row) for row in test])
    assert d_fit < 0.08 and d_fit < 0.7 * d_mean, (d_fit, d_mean)
    # the classes come out ordered by their level weight, as planted
    levels = [c["level"] for c in fitted.classes]
    assert levels == sorted(levels) and levels[-1] > 1.0 and levels[0] < 0.0, levels


def test_history_shifts_the_prior_towards_the_taste_it_shows(bundled):
    cat, r = bundled
    prior = LatentClassPrior(r, PLANTED, 0.08)
    job, goal = "data-analyst", "machine-learning-engineer"
    held = set(cat.jobs[job].skills)
    w0 = prior.posterior(job, goal, held, [])
    assert np.allclose(w0, [0.3, 0.4, 0.3])  # no history: the shares
    # the deepest course the person could take now, then the quickest: opposite evidence
    n, useful, x, _ = prior._options(job, goal, held, [])
    deep = prior.course_ids[useful[np.argmax(x[:, 3] * 10 + x[:, 2])]]
    quick = prior.course_ids[useful[np.argmin(x[:, 3] * 10 + x[:, 2])]]
    w_deep = prior.posterior(job, goal, held | set(cat.courses[deep].skills), [deep])
    w_quick = prior.posterior(job, goal, held | set(cat.courses[quick].skills), [quick])
    assert w_deep[2] > w0[2] and w_quick[0] > w0[0] and w_deep[2] > w_quick[2]


def test_latent_class_prior_round_trips_and_refuses_bad_files(bundled, tmp_path):
    cat, r = bundled
    prior = LatentClassPrior(r, PLANTED, 0.08)
    prior.model_scale = 0.5
    prior.save(tmp_path)
    back = CoursePrior.load(tmp_path, r)
    assert isinstance(back, LatentClassPrior) and back.model_scale == 0.5
    assert back.classes == prior.classes and back.detour == prior.detour
    with pytest.raises(ValueError, match="detour in"):
        LatentClassPrior(r, PLANTED, 1.0)
    with pytest.raises(ValueError, match="positive share"):
        LatentClassPrior(r, [PLANTED[0] | {"share": 0.0}], 0.1)
    with pytest.raises(ValueError, match="finite"):
        LatentClassPrior(r, [PLANTED[0] | {"colour": 1.0}], 0.1)
    data = json.loads((tmp_path / PRIOR_FILE).read_text())
    (tmp_path / PRIOR_FILE).write_text(json.dumps(data | {"model_scale": 9}))
    with pytest.raises(ValueError, match="not a valid course prior"):
        load_prior(tmp_path, cat, r)
