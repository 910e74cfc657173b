"""The job prior (careerpath/model/job_prior.py): it is the generator's decision shape, its fit recovers
the generator's numbers, the scorer mixes it over the whole course distribution, and the model's
share of the job scores is switched off when the model adds only noise."""

from __future__ import annotations

import json

import numpy as np
import pytest

from careerpath.core import metrics as M
from careerpath.core.catalog import load_catalog
from careerpath.core.context import retriever_for
from careerpath.core.textformat import STAY
from careerpath.eval import baselines as bl
from careerpath.model.job_prior import JOB_PRIOR_FILE, JobPrior, load_job_prior
from careerpath.model.job_prior_scales import choose_scales
from careerpath.model.modeling import load_for_inference
from careerpath.model.prior import CoursePrior, load_prior
from careerpath.model.scoring import CatalogScorer

GENERATOR = {"move": 0.8, "lateral": 0.03, "abandon": 0.04, "floor": 0.0}  # SynthesisConfig defaults


def _rows(folder, split: str) -> list[dict]:
    return [json.loads(line) for line in (folder / f"{split}.jsonl").read_text().splitlines()]


def _generator_course_p(unit: CoursePrior, row: dict, pos: dict) -> np.ndarray:
    """The generator's recorded P(next course) (courses under its floor share the rest evenly)."""
    probs = row["probs"]
    q = np.zeros(len(pos))
    for c, p in probs["course"].items():
        q[pos[c]] = p
    rest = unit.eligible(row["skill_ids"], row["course_ids"]) & (q == 0)
    if rest.any():
        q[rest] += probs.get("course_other", 0.0) / rest.sum()
    return q / q.sum()


def test_with_the_generators_numbers_the_prior_is_the_generators_job_distribution(tiny_dataset):
    cat = load_catalog(tiny_dataset / "catalog")
    r = retriever_for(tiny_dataset, cat)
    prior = JobPrior(r, GENERATOR)
    unit, pos = CoursePrior(r, {"gap": 0.0}), {c: i for i, c in enumerate(cat.courses)}
    tv = []
    for row in _rows(tiny_dataset, "train")[:300]:
        mixed = prior.table(row["job_id"], row["goal_id"], row["skill_ids"]).mixture(
            _generator_course_p(unit, row, pos)
        )
        true = np.zeros(len(prior.job_ids))
        for j, p in row["probs"]["job"].items():
            true[prior.job_ids.index(j)] = p
        assert mixed.sum() == pytest.approx(1.0)
        tv.append(0.5 * np.abs(mixed - true).sum())
    # exact but for the courses below the generator's recording floor, whose mass is spread evenly
    assert np.median(tv) < 1e-3 and np.quantile(tv, 0.95) < 0.02, (np.median(tv), np.quantile(tv, 0.95))


def test_the_fit_recovers_the_generators_move_probability(tiny_dataset):
    cat = load_catalog(tiny_dataset / "catalog")
    r = retriever_for(tiny_dataset, cat)
    fitted = JobPrior.fit(r, _rows(tiny_dataset, "train"))
    assert fitted.params["move"] == pytest.approx(0.8, abs=0.07), fitted.params
    assert fitted.params["lateral"] < 0.15 and fitted.params["floor"] >= 1e-3, fitted.params
    # every row's probabilities sum to one, stay included, and readiness after a course matters
    row = next(x for x in _rows(tiny_dataset, "test") if x["next_job_id"] != STAY)
    table = fitted.table(row["job_id"], row["goal_id"], row["skill_ids"])
    assert np.allclose(table.taught.sum(1), 1.0) and table.now.sum() == pytest.approx(1.0)
    assert table.mixture(np.full(len(cat.courses), 1 / len(cat.courses))).sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no row to fit"):
        JobPrior.fit(r, [{"next_course_id": "nope", "next_job_id": STAY}])
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        JobPrior(r, GENERATOR | {"move": 1.5})


def test_scorer_mixes_the_prior_over_every_course_and_the_model_over_the_top_ones(tiny_model, tiny_dataset):
    cat = load_catalog(tiny_model / "catalog")
    model, tok, kind = load_for_inference(tiny_model)
    course_prior = load_prior(tiny_model, cat)
    job_prior = load_job_prior(tiny_model, cat)
    assert job_prior is not None and (tiny_model / JOB_PRIOR_FILE).is_file()
    rows = _rows(tiny_dataset, "test")[:6]
    texts, skills = [r["input_text"] for r in rows], [r["skill_ids"] for r in rows]
    scorer = CatalogScorer(model, tok, cat, kind=kind, prior=course_prior, job_prior=job_prior)
    bare = CatalogScorer(model, tok, cat, kind=kind)
    for scale in (0.0, 0.7):
        job_prior.model_scale = scale
        course_lp, job_lp = scorer.score(texts, skills)
        assert np.allclose(np.exp(job_lp).sum(1), 1.0)
        for i, row in enumerate(rows):
            table = job_prior.table(row["job_id"], row["goal_id"], row["skill_ids"])
            p = np.exp(course_lp[i])
            want = table.mixture(p)
            if scale:  # the model's next-job log-probs for each of the top courses, by brute force
                for c in np.argsort(-course_lp[i], kind="stable")[: scorer.k]:
                    model_lp = _model_job_lp(bare, texts[i], skills[i], int(c))
                    taught = table.given_taught(int(c))
                    z = np.log(taught) + scale * model_lp
                    poe = np.exp(z - z.max())
                    want += (1 - table.abandon) * p[c] * (poe / poe.sum() - taught)
            assert np.allclose(np.exp(job_lp[i]), want, atol=1e-5)


def _model_job_lp(bare: CatalogScorer, text: str, skills: list[str], course: int) -> np.ndarray:
    """The model's next-job log-probs (renormalised over the jobs) given ``course``: the bare
    scorer with all of its course mass forced onto that course."""
    saved = bare.k
    bare.k = 1
    try:
        forced = np.full((1, len(bare.course_ids)), -1e9)
        forced[0, course] = 0.0
        import torch

        with torch.inference_mode():
            enc, enc_out = bare._encode([text])
            return bare._fast_jobs(enc_out, enc["attention_mask"], forced, [set(skills)], [text])[0]
    finally:
        bare.k = saved


def test_choose_scales_switches_a_noisy_model_off(tiny_model, tiny_dataset, monkeypatch):
    cat = load_catalog(tiny_model / "catalog")
    model, tok, kind = load_for_inference(tiny_model)
    prior, job_prior = load_prior(tiny_model, cat), load_job_prior(tiny_model, cat)
    scorer = CatalogScorer(model, tok, cat, kind=kind, prior=prior, job_prior=job_prior)
    rng = np.random.default_rng(0)
    real_courses, real_next = scorer.score_courses, scorer._next_token_logp

    def noisy_courses(texts):  # a model whose course scores are pure noise (loud)
        out = real_courses(texts)
        return out if scorer.prior is not None else 20.0 * rng.standard_normal(out.shape)

    def noisy_jobs(*args):
        out = real_next(*args)
        return 20.0 * rng.standard_normal(out.shape) if args[4] is scorer.job_single else out

    monkeypatch.setattr(scorer, "score_courses", noisy_courses)
    monkeypatch.setattr(scorer, "_next_token_logp", noisy_jobs)
    report = choose_scales(scorer, _rows(tiny_dataset, "validation")[:60])
    assert prior.model_scale == 0.0 and job_prior.model_scale == 0.0, report
    assert report["course"][1.0] > report["course"][0.0] and report["job"][1.0] > report["job"][0.0]


def test_move_metrics_split_timing_from_destination():
    # three jobs + stay; rows 0-1 stay, rows 2-3 move (to jobs 0 and 2)
    p = np.array(
        [
            [0.05, 0.05, 0.0, 0.9],
            [0.1, 0.0, 0.1, 0.8],
            [0.6, 0.1, 0.1, 0.2],
            [0.0, 0.3, 0.1, 0.6],
        ]
    )
    gold = np.array([3, 3, 0, 2])
    m = bl.move_metrics(np.log(np.maximum(p, 1e-12)), gold, stay=3)
    # P(move) = 0.1, 0.2, 0.8, 0.4: every mover above every stayer
    assert m["move_timing"]["auc"] == 1.0 and m["move_timing"]["moves"] == 2
    assert m["move_timing"]["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.8, 0.4])))
    # destinations among jobs only: row 2 ranks job 0 first, row 3 ranks job 2 second
    assert m["move_destination"]["acc@1"] == 0.5 and m["move_destination"]["mrr"] == 0.75


def test_auc_and_clustered_interval():
    rng = np.random.default_rng(1)
    s = rng.integers(0, 5, 300).astype(float)  # many ties
    y = rng.random(300) < 0.2 + 0.1 * s
    pairs = [(a > b) + 0.5 * (a == b) for a, ya in zip(s, y) for b, yb in zip(s, y) if ya and not yb]
    assert M.auc(s, y) == pytest.approx(np.mean(pairs))
    assert np.isnan(M.auc(s, np.zeros(300, dtype=bool)))
    # 40 users of 10 rows each, each user's rows alike: the interval must see 40 draws, not 400
    users = np.repeat([f"u{i}" for i in range(40)], 10)
    diff = np.repeat(rng.normal(0.0, 1.0, 40), 10)
    ci = M.clustered_bootstrap_ci(diff, users, seed=3)
    naive = 1.96 * diff.std() / np.sqrt(len(diff))
    assert ci["lo"] < ci["mean"] < ci["hi"] and ci["clusters"] == 40
    assert (ci["hi"] - ci["lo"]) / 2 > 2 * naive


def test_a_scale_must_beat_the_prior_beyond_the_noise():
    from careerpath.model.job_prior_scales import _pick_scale

    rng = np.random.default_rng(4)
    users = [f"u{i // 8}" for i in range(800)]  # 100 people, 8 rows each
    base = rng.exponential(1.0, 800)
    noise = np.repeat(rng.normal(0.0, 0.05, 100), 8)  # person-level noise, no real gain
    real = base - 0.05 + rng.normal(0.0, 0.01, 800)  # a real, consistent gain
    assert _pick_scale({0.0: base, 0.5: base - 0.001 + noise}, users) == 0.0
    assert _pick_scale({0.0: base, 0.25: real, 1.0: base + 0.2}, users) == 0.25
    assert _pick_scale({0.0: base, 1.0: base + 0.1}, users) == 0.0


def test_loss_adds_the_job_prior_given_the_course_at_the_next_job_position(tiny_model, tiny_dataset):
    import torch

    from careerpath.core.config import load_config
    from careerpath.training import training
    from tests.conftest import ROOT

    cat = load_catalog(tiny_model / "catalog")
    model, tok, _ = load_for_inference(tiny_model)
    cfg = load_config(
        ["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--data.data-dir", str(tiny_dataset)]
    )
    rows = _rows(tiny_dataset, "train")[:8]
    for r in rows:  # hard labels: the priors alone change the loss
        r.pop("probs_visible", None)
    soft = training.SoftTargets.from_catalog(tok, tiny_dataset)
    prior, job_prior = load_prior(tiny_model, cat), load_job_prior(tiny_model, cat)
    examples = training.encode_rows(rows, tok, "seq2seq", cfg, soft, prior, job_prior)
    assert all("job_prior" in e for e in examples)
    for row, e in zip(rows, examples):
        # the position holds the next job's token; the prior is the one given the course taken
        assert e["labels"][e["job_prior"][0]] == soft.job_token[row["next_job_id"]]
        table = job_prior.table(row["job_id"], row["goal_id"], row["skill_ids"])
        want = table.given_taught(list(cat.courses).index(row["next_course_id"]))
        if not row["skills_gained_ids"]:
            want = table.now
        assert np.allclose(np.exp(e["job_prior"][1]), want, rtol=1e-5)
    batch = training.make_collate(tok.pad_token_id)(examples)
    ctokens = torch.tensor([soft.course_token[c] for c in prior.course_ids])
    jtokens = torch.tensor([soft.job_token[j] for j in job_prior.job_ids])
    model.train()
    got = training._loss(model, dict(batch), None, 1.0, None, None, ctokens, jtokens)
    plain = {k: batch[k] for k in ("input_ids", "attention_mask", "labels")}
    logits = model(**plain).logits.float()
    for i, e in enumerate(examples):
        logits[i, e["prior"][0], ctokens] += torch.from_numpy(e["prior"][1])
        logits[i, e["job_prior"][0], jtokens] += torch.from_numpy(e["job_prior"][1])
    want = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=-100
    )
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    with pytest.raises(ValueError, match="job_prior_tokens"):
        training._loss(model, dict(batch), None, 1.0, None, None, ctokens)


def test_lean_loss_equals_the_transformers_forward_loss(tiny_model, tiny_dataset):
    """The loss on the target's real positions only (the lean forward skips the output layer on
    padding) is the loss through transformers' full logits, with everything the loss adds: soft
    targets, both priors, weighted decisions; the same value and the same gradients."""
    import copy

    import torch

    from careerpath.core.config import load_config
    from careerpath.model.scoring import LeanT5Training
    from careerpath.training import training
    from tests.conftest import ROOT

    cat = load_catalog(tiny_model / "catalog")
    model, tok, _ = load_for_inference(tiny_model)
    cfg = load_config(
        ["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--data.data-dir", str(tiny_dataset)]
    )
    rows = _rows(tiny_dataset, "train")[:12]
    soft = training.SoftTargets.from_catalog(tok, tiny_dataset)
    prior, job_prior = load_prior(tiny_model, cat), load_job_prior(tiny_model, cat)
    examples = training.encode_rows(rows, tok, "seq2seq", cfg, soft, prior, job_prior)
    batch = training.make_collate(tok.pad_token_id)(examples)
    assert any(k.startswith("soft_") for k in batch) and (batch["labels"] == -100).any()
    ctokens = torch.tensor([soft.course_token[c] for c in prior.course_ids])
    jtokens = torch.tensor([soft.job_token[j] for j in job_prior.job_ids])
    decisions = training.decision_token_ids(tok, tiny_dataset)
    model.train()
    twin = copy.deepcopy(model)
    lean = LeanT5Training.build(twin)
    assert lean is not None
    args = (decisions, 3.0, None)
    want = training._loss(model, dict(batch), *args, None, ctokens, jtokens)
    got = training._loss(twin, dict(batch), *args, lean, ctokens, jtokens)
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    want.backward()
    got.backward()
    for (name, a), b in zip(model.named_parameters(), twin.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-5), name


def test_the_floor_ranks_jobs_by_skill_similarity(tiny_dataset):
    cat = load_catalog(tiny_dataset / "catalog")
    prior = JobPrior(retriever_for(tiny_dataset, cat), GENERATOR | {"floor": 0.01})
    job = next(iter(cat.jobs))
    spread = prior.spread(job)
    assert spread.sum() == pytest.approx(1.0) and spread[-1] == 0 and spread[prior.job_ids.index(job)] == 0
    vec = prior._job_vec.toarray()
    cos = {b: vec[prior.job_ids.index(b)] @ vec[prior.job_ids.index(job)] for b in cat.jobs}
    order = sorted((b for b in cat.jobs if b != job), key=lambda b: -cos[b])
    assert spread[prior.job_ids.index(order[0])] > spread[prior.job_ids.index(order[-1])]
    assert cos[order[0]] > cos[order[-1]]
    # a job-only profile: past the route's jobs, the others come by similarity, not tied
    table = prior.table(job, "", set(cat.jobs[job].skills))
    p = table.mixture(np.full(len(cat.courses), 1.0 / len(cat.courses)))
    hop, laterals = prior.candidates(job, "")
    rest = [b for b in order if b not in {hop, *laterals}]
    if len(rest) >= 2:
        assert p[prior.job_ids.index(rest[0])] >= p[prior.job_ids.index(rest[-1])]


def test_generation_adds_the_job_prior_at_the_next_job_step(tiny_model, tiny_dataset):
    import torch
    from transformers import LogitsProcessorList

    from careerpath.core.textformat import Step, serialise_target
    from careerpath.model.scoring import single_token_ids

    cat = load_catalog(tiny_model / "catalog")
    model, tok, _ = load_for_inference(tiny_model)
    job_prior = load_job_prior(tiny_model, cat)
    job_prior.model_scale = 0.0
    rows = _rows(tiny_dataset, "test")[:4]
    texts = [r["input_text"] for r in rows]
    titles = [cat.jobs[j].title for j in job_prior.job_ids[:-1]] + [STAY]
    job_tokens = single_token_ids(tok, "next_job:", [f"next_job: {t}" for t in titles])
    forced = len(titles) - 2  # some catalog job
    for t in texts:  # a prior that makes that job certain whatever the course
        table = job_prior.for_text(t)
        p = np.full(len(titles), 1e-9)
        p[forced] = 1.0
        table.taught[:] = p
        table.now[:] = p
    enc = tok(texts, return_tensors="pt", padding=True)
    start = model.config.decoder_start_token_id
    for beams in (1, 2):
        # decoding from "<start> next_course: <its course> | skills_gained: ... | next_job:"
        heads = []
        for r in rows:
            head = serialise_target(Step(r["next_course"], r["skills_gained"], STAY)).rsplit(" ", 1)[0]
            heads.append(tok(head, add_special_tokens=False)["input_ids"])
        width = max(len(h) for h in heads)
        heads = [h for h in heads if len(h) == width] or heads[:1]
        n = len(heads)
        dec = torch.tensor([[start, *h] for h in heads])
        procs = LogitsProcessorList([job_prior.processor(tok, texts[:n], beams)])
        out = model.generate(
            **{k: v[:n] for k, v in enc.items()},
            decoder_input_ids=dec,
            num_beams=beams,
            max_new_tokens=1,
            logits_processor=procs,
            do_sample=False,
        )
        assert out[:, -1].tolist() == [job_tokens[forced]] * n
        # elsewhere the processor leaves the scores alone
        scores = torch.randn(n * beams, len(tok))
        assert torch.equal(procs[0](dec.repeat_interleave(beams, 0)[:, :2], scores), scores)


def test_the_floor_follows_the_jobs_known_destinations_first(tiny_dataset):
    cat = load_catalog(tiny_dataset / "catalog")
    r = retriever_for(tiny_dataset, cat)
    prior = JobPrior(r, GENERATOR | {"floor": 0.01})
    for job in cat.jobs:
        nexts = [b for b, _ in r.progression.next_jobs.get(job, []) if b != job]
        if len(nexts) < 2:
            continue
        spread = prior.spread(job)
        at = {b: spread[prior.job_ids.index(b)] for b in cat.jobs}
        # the graph's first destination leads, and the known ones come in the graph's order
        assert max(at, key=at.get) == nexts[0], job
        assert at[nexts[0]] > at[nexts[1]] > 0


def _generated(lateral_moves: str, users: int = 500):
    """(retriever, rows) of the default data config with lateral moves made common (0.3)."""
    from dataclasses import replace

    from careerpath.core.config import bundled_config
    from careerpath.core.context import GapRetriever
    from careerpath.core.progression import Progression
    from careerpath.data.build import load_data_config
    from careerpath.data.synthesis import Synthesiser, event_to_row

    cfg = load_data_config(bundled_config("data/default.yaml"), {})
    syn_cfg = replace(cfg.synthesis, lateral_moves=lateral_moves, lateral_prob=0.3)
    cat = load_catalog(cfg.catalog)
    prog = Progression(cat, n_next=cfg.n_next_jobs, n_courses=cfg.n_courses_per_job)
    events = Synthesiser(cat, prog, syn_cfg).batch(np.arange(users))
    return GapRetriever(cat, prog, cfg.context), [event_to_row(e, cat) for evs in events for e in evs]


def test_graph_laterals_the_prior_is_the_generators_job_distribution_and_the_fit_tells_the_modes_apart():
    r, rows = _generated("graph")
    numbers = GENERATOR | {"lateral": 0.3}
    graph, ready = JobPrior(r, numbers, laterals="graph"), JobPrior(r, numbers)
    unit, pos = CoursePrior(r, {"gap": 0.0}), {c: i for i, c in enumerate(r.catalog.courses)}
    tv = {"graph": [], "ready": []}
    lateral_rows = 0
    for row in rows[:600]:
        true = np.zeros(len(graph.job_ids))
        for j, p in row["probs"]["job"].items():
            true[graph.job_ids.index(j)] = p
        lateral_rows += sum(p > 0 for j, p in row["probs"]["job"].items() if j != STAY) > 1
        q = _generator_course_p(unit, row, pos)
        for name, prior in (("graph", graph), ("ready", ready)):
            mixed = prior.table(row["job_id"], row["goal_id"], row["skill_ids"]).mixture(q)
            tv[name].append(0.5 * np.abs(mixed - true).sum())
    assert lateral_rows > 100
    # graph laterals: exact but for the generator's recording floor; the ready rule is not
    assert np.median(tv["graph"]) < 1e-3 and np.quantile(tv["graph"], 0.95) < 0.02, np.quantile(
        tv["graph"], 0.95
    )
    assert np.mean(tv["ready"]) > 5 * np.mean(tv["graph"]) + 0.01, (
        np.mean(tv["ready"]),
        np.mean(tv["graph"]),
    )
    fitted = JobPrior.fit(r, rows)
    assert fitted.laterals == "graph" and fitted.params["lateral"] == pytest.approx(0.3, abs=0.06), (
        fitted.params
    )
    _, ready_rows = _generated("ready")
    assert JobPrior.fit(r, ready_rows).laterals == "ready"


def test_graph_laterals_round_trip_and_bad_modes_are_refused(tiny_dataset, tmp_path):
    cat = load_catalog(tiny_dataset / "catalog")
    r = retriever_for(tiny_dataset, cat)
    prior = JobPrior(r, GENERATOR | {"floor": 0.01}, laterals="graph")
    prior.save(tmp_path)
    back = JobPrior.load(tmp_path, r)
    assert back.laterals == "graph"
    row = _rows(tiny_dataset, "test")[0]
    assert np.array_equal(back.for_row(row), prior.for_row(row))
    with pytest.raises(ValueError, match="laterals: one of ready, graph"):
        JobPrior(r, GENERATOR, laterals="everywhere")
    from careerpath.data.synthesis import SynthesisConfig, Synthesiser

    with pytest.raises(ValueError, match="lateral_moves: one of ready, graph"):
        Synthesiser(cat, r.progression, SynthesisConfig(lateral_moves="everywhere"))


def test_graph_moves_rank_a_job_only_profiles_next_jobs_in_the_graphs_order():
    """With graph moves, a person with only a job (its required skills) gets its next jobs in the
    transition graph's order, the next step first, however ready they are for each."""
    r, rows = _generated("graph", users=200)
    prior = JobPrior.fit(r, rows)
    assert prior.laterals == "graph"
    checked = 0
    for job in r.catalog.jobs:
        ranked = list(dict.fromkeys(b for b, _ in r.progression.next_jobs.get(job, [])))
        if len(ranked) < 3:
            continue
        p = prior.table(job, "", set(r.catalog.jobs[job].skills)).now
        got = sorted(ranked, key=lambda b: -p[prior.job_ids.index(b)])
        assert got == ranked, (job, got, ranked)
        checked += 1
    assert checked > 20
