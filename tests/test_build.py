import bisect
import json

import numpy as np
import pytest

from careerpath.cli import main
from data_prep import synthesis
from data_prep.build import SPLITS, build_dataset, load_data_config
from data_prep.catalog import load_catalog
from data_prep.context import GapRetriever
from data_prep.progression import Progression, coverage, skill_gap
from data_prep.synthesis import (
    PROB_FLOOR,
    STAY,
    Event,
    RowWriter,
    Synthesiser,
    event_to_row,
    oracle_values,
)


def _rows(path):
    return [json.loads(line) for line in open(path)]


def test_build_outputs_and_split_by_user(tiny_dataset, tiny_catalog_dir):
    stats = json.loads((tiny_dataset / "stats.json").read_text())
    for key in ("users", "examples", "catalog", "oracle_acc"):
        assert key in stats
    assert set(stats["oracle_acc"]) >= {"next_course", "next_job"}
    users = {s: {r["user_id"] for r in _rows(tiny_dataset / f"{s}.jsonl")} for s in SPLITS}
    assert not users["train"] & users["test"] and not users["train"] & users["validation"]
    assert not users["validation"] & users["test"]
    assert sum(stats["examples"].values()) == sum(len(_rows(tiny_dataset / f"{s}.jsonl")) for s in SPLITS)
    used = load_catalog(tiny_dataset / "catalog")  # the catalog the rows were made from travels with them
    assert set(used.courses) == set(load_catalog(tiny_catalog_dir).courses)
    taken = {r["next_course_id"] for r in _rows(tiny_dataset / "train.jsonl")} - {None, ""}
    assert taken and taken <= set(used.courses)
    card = (tiny_dataset / "README.md").read_text()
    assert card.startswith("---\nlicense:") and "task_categories" in card


def test_rows_are_consistent(tiny_dataset):
    from data_prep.textformat import parse_input, parse_target

    for row in _rows(tiny_dataset / "train.jsonl"):
        p, t = parse_input(row["input_text"]), parse_target(row["target_text"])
        assert p.job == row["job"] and p.skills == row["skills"] and p.courses == row["courses"]
        assert t.next_course == row["next_course"] and t.next_job == row["next_job"]
        assert row["next_course_id"] not in row["course_ids"]
        assert not set(row["skills_gained_ids"]) & set(row["skill_ids"])
        for probs in (row["probs"], row["probs_visible"]):
            total = sum(probs["course"].values()) + probs["course_other"]
            assert abs(total - 1) < 1e-3 and abs(sum(probs["job"].values()) - 1) < 1e-3
            assert row["next_course_id"] in probs["course"]


def test_same_seed_same_bytes_other_seed_differs(tiny_catalog_dir, tmp_path):
    cfg = load_data_config(None, {"catalog": str(tiny_catalog_dir), "users": 60, "seed": 3})
    build_dataset(cfg, tmp_path / "a", progress=False)
    build_dataset(cfg, tmp_path / "b", progress=False)
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl", "stats.json", "README.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    other = load_data_config(None, {"catalog": str(tiny_catalog_dir), "users": 60, "seed": 4})
    build_dataset(other, tmp_path / "c", progress=False)
    assert (tmp_path / "a" / "train.jsonl").read_bytes() != (tmp_path / "c" / "train.jsonl").read_bytes()


def test_interrupted_build_leaves_previous_dataset_untouched(tiny_catalog_dir, tmp_path, monkeypatch):
    cfg = load_data_config(None, {"catalog": str(tiny_catalog_dir), "users": 30})
    out = tmp_path / "ds"
    build_dataset(cfg, out, progress=False)
    before = (out / "train.jsonl").read_bytes()

    import data_prep.build as build

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "dataset_card", boom)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(
            load_data_config(None, {"catalog": str(tiny_catalog_dir), "users": 50}), out, progress=False
        )
    assert (out / "train.jsonl").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_loadable_with_datasets(tiny_dataset):
    from datasets import load_dataset

    ds = load_dataset("json", data_files={s: str(tiny_dataset / f"{s}.jsonl") for s in SPLITS})
    assert set(ds) == set(SPLITS) and "input_text" in ds["train"].column_names


def test_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("synthesis: {userz: 3}\n")
    with pytest.raises(ValueError, match="userz"):
        load_data_config(bad)
    assert main(["data", "build", "--config", str(bad), "--out", str(tmp_path / "x")]) == 2


def test_cli_build_on_tiny_config(tmp_path, capsys):
    from conftest import ROOT

    code = main(
        [
            "data",
            "build",
            "--config",
            str(ROOT / "configs/data/tiny.yaml"),
            "--out",
            str(tmp_path / "d"),
            "--quiet",
            "--catalog",
            str(ROOT / "tests/assets/tiny_catalog"),
        ]
    )
    assert code == 0 and "oracle ceiling" in capsys.readouterr().out


def test_built_dataset_has_normal_permissions(tiny_catalog_dir, tmp_path):
    """mkdtemp's private 0700 must not leak into the finished dataset folder."""
    import os

    from conftest import ROOT

    cfg = load_data_config(
        ROOT / "configs" / "data" / "tiny.yaml", {"catalog": str(tiny_catalog_dir), "users": 20}
    )
    old = os.umask(0o022)
    try:
        out = tmp_path / "data"
        build_dataset(cfg, out, progress=False)
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o755


# -- the fast generator and the parallel build (issue 10) --------------------------------------


def _rows_of(synth, catalog, users):
    return [json.dumps(event_to_row(ev, catalog), ensure_ascii=False) for i in users for ev in synth.user(i)]


def _setup(catalog_dir=None, **overrides):
    cfg = load_data_config(None, {"catalog": catalog_dir and str(catalog_dir), **overrides})
    catalog = load_catalog(cfg.catalog)
    prog = Progression(catalog, n_next=cfg.n_next_jobs, n_courses=cfg.n_courses_per_job)
    return cfg, catalog, prog


@pytest.mark.parametrize("catalog", ["tiny", "bundled"])
def test_fast_generator_matches_the_original_byte_for_byte(tiny_catalog_dir, catalog):
    cfg, cat, prog = _setup(tiny_catalog_dir if catalog == "tiny" else None, seed=5)
    fast, ref = Synthesiser(cat, prog, cfg.synthesis), _ReferenceSynthesiser(cat, prog, cfg.synthesis)
    users = range(120 if catalog == "tiny" else 60)
    assert _rows_of(fast, cat, users) == _rows_of(ref, cat, users)


def test_exact_fallbacks_match_the_original(tiny_catalog_dir, monkeypatch):
    """With error bounds too wide for any short cut, every step takes the original computations
    (full rows, the grouped job marginal, the full cumulative sum); with sparse matrices the
    order-dependent gains go through the sparse product."""
    cfg, cat, prog = _setup(None, seed=11)
    ref = _rows_of(_ReferenceSynthesiser(cat, prog, cfg.synthesis), cat, range(40))
    monkeypatch.setattr(synthesis, "_ULP", 1e-4)
    assert _rows_of(Synthesiser(cat, prog, cfg.synthesis), cat, range(40)) == ref
    monkeypatch.undo()
    monkeypatch.setattr(synthesis, "DENSE_MAX_CELLS", 0)
    fast = Synthesiser(cat, prog, cfg.synthesis)
    assert fast.sparse
    assert _rows_of(fast, cat, range(40)) == ref


@pytest.mark.parametrize("with_context", [False, True])
def test_row_writer_writes_what_json_dumps_writes(tiny_catalog_dir, with_context):
    cfg, cat, prog = _setup(tiny_catalog_dir)
    context = GapRetriever(cat, prog, cfg.context) if with_context else None
    synth, writer = Synthesiser(cat, prog, cfg.synthesis), RowWriter(cat, context)
    events = [ev for i in range(40) for ev in synth.user(i)]
    assert events
    for ev in events:
        assert writer.line(ev) == json.dumps(event_to_row(ev, cat, context), ensure_ascii=False) + "\n"
    assert with_context == ("next_step" in writer.line(events[0]))


def test_choice_and_random_draws_match_numpy():
    """The generator replays ``rng.choice(p=...)`` and ``rng.random(k)``; numpy must agree."""
    for n in (1, 2, 7, 50, 300):
        for seed in range(30):
            p = np.random.default_rng(seed).random(n) + 1e-3
            a, b = np.random.default_rng([seed, n]), np.random.default_rng([seed, n])
            expected = a.choice(n, p=p / p.sum())
            assert bisect.bisect_right(synthesis._cdf(p), b.random()) == expected
            assert a.random() == b.random()
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert a.random(9).tolist() == [b.random() for _ in range(9)]


def test_user_i_is_the_same_whatever_the_order_or_chunk():
    cfg, cat, prog = _setup(None, seed=13)
    synth = Synthesiser(cat, prog, cfg.synthesis)
    forward = {i: _rows_of(synth, cat, [i]) for i in range(12)}
    fresh = Synthesiser(cat, prog, cfg.synthesis)
    assert {i: _rows_of(fresh, cat, [i]) for i in reversed(range(12))} == forward


def test_parallel_build_is_byte_identical_to_one_process(tiny_catalog_dir, tmp_path, monkeypatch):
    import data_prep.build as build

    monkeypatch.setattr(build, "CHUNK_USERS", 7)  # several chunks per worker, out-of-order finishes
    outs = {}
    for workers in (1, 2, 3):
        cfg = load_data_config(
            None, {"catalog": str(tiny_catalog_dir), "users": 50, "seed": 2, "workers": workers}
        )
        outs[workers] = tmp_path / f"w{workers}"
        build_dataset(cfg, outs[workers], progress=False)
    names = sorted(p.name for p in outs[1].iterdir() if p.is_file())
    assert "train.jsonl" in names and "stats.json" in names
    for workers in (2, 3):
        for name in names:
            assert (outs[workers] / name).read_bytes() == (outs[1] / name).read_bytes(), (workers, name)
    assert "workers" not in json.loads((outs[1] / "stats.json").read_text())["config"]


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers"):
        load_data_config(None, {"workers": 0})


def test_oracle_from_values_equals_oracle_from_rows(tiny_dataset):
    from data_prep.build import _Oracle

    rows = _rows(tiny_dataset / "train.jsonl")
    a, b = _Oracle(), _Oracle()
    for row in rows:
        a.add(row)
    cfg, cat, prog = _setup(None)
    for row in rows:
        ev = synthesis.Event(
            user_id=row["user_id"],
            step=row["step"],
            goal=row["goal_id"],
            job=row["job_id"],
            history=row["history_ids"],
            skills=row["skill_ids"],
            courses=row["course_ids"],
            next_course=row["next_course_id"],
            skills_gained=row["skills_gained_ids"],
            next_job=row["next_job_id"],
            probs=row["probs"],
            probs_visible=row["probs_visible"],
        )
        b.add_values(*oracle_values(ev))
    assert a.result() == b.result()


# -- the original generator, kept as the reference the fast one must match byte for byte ---------


class _ReferenceSynthesiser(Synthesiser):
    """The per-step formulation the build used before it was made fast (matrix products over the
    whole catalog every step, one job distribution per candidate course), unchanged."""

    def __init__(self, *args):
        super().__init__(*args)
        if self.sparse:
            self._prereq_rows = np.repeat(np.arange(self.prereq_m.shape[0]), np.diff(self.prereq_m.indptr))

    def _start_state(self, rng: np.random.Generator):
        cat = self.catalog
        job = self.start_jobs[rng.integers(len(self.start_jobs))]
        reach = self.prog.reachable_from(job, self.cfg.max_goal_hops)
        goals = sorted(reach)
        weights = np.array([1.0 + max(cat.jobs[g].level - cat.jobs[job].level, 0) for g in goals])
        goal = goals[rng.choice(len(goals), p=weights / weights.sum())]
        history = [job]
        skills = {s for s in cat.jobs[job].skills if rng.random() < self.cfg.start_skill_prob}
        preds = [
            a for a, moves in self.prog.next_jobs.items() if any(b == job for b, _ in moves) and a != goal
        ]
        if preds and rng.random() < self.cfg.previous_job_prob:
            prev = preds[rng.integers(len(preds))]
            history.insert(0, prev)
            skills |= {s for s in cat.jobs[prev].skills if rng.random() < 0.6}
        utype = int(rng.choice(len(self.cfg.types), p=self.priors))
        return job, goal, history, skills, utype

    def trajectory(self, user_id: str, rng: np.random.Generator) -> list[Event]:
        job, goal, history, skills, utype = self._start_state(rng)
        start_job, courses, events = job, [], []
        posterior = self.priors.copy()
        for step in range(self.cfg.max_steps):
            if job == goal:
                break
            hop = self.prog.next_hop(job, goal)
            if hop is None:
                break
            ids, per_type = self._course_dists(hop, goal, skills, courses)
            if not ids:
                break
            p_true = per_type[utype]
            course = ids[rng.choice(len(ids), p=p_true / p_true.sum())]
            abandoned = rng.random() < self.cfg.abandon_prob
            gained = [] if abandoned else self._new_skills(course, skills)
            after = skills | set(gained)
            job_dist_by_course = self._job_dists(job, hop, skills, ids)
            dist = job_dist_by_course[course] if not abandoned else self._job_dist(job, hop, skills)
            next_job = self._sample_job(dist, rng)
            p_visible = sum(posterior[k] * per_type[k] for k in range(len(per_type)))
            events.append(
                Event(
                    user_id=user_id,
                    step=step,
                    goal=goal,
                    job=job,
                    history=list(history),
                    skills=sorted(skills, key=self.skill_order.__getitem__),
                    courses=list(courses),
                    next_course=course,
                    skills_gained=gained,
                    next_job=next_job,
                    probs=self._probs(ids, p_true, job_dist_by_course, job, hop, skills),
                    probs_visible=self._probs(ids, p_visible, job_dist_by_course, job, hop, skills),
                    user_type=self.cfg.types[utype].name,
                    start_job=start_job,
                    job_given_course={k: round(float(v), 6) for k, v in dist.items()},
                )
            )
            # Bayes update of the type posterior from the observed course choice.
            k = ids.index(course)
            posterior = posterior * np.array([per_type[t][k] for t in range(len(per_type))])
            posterior /= posterior.sum()
            if not abandoned:
                courses.append(course)
                skills = after
            if next_job != STAY:
                job = next_job
                history.append(job)
        return events

    # -- the generator's probabilities ------------------------------------------------------
    def _new_skills(self, course_id: str, skills: set[str]) -> list[str]:
        return [s for s in self.catalog.courses[course_id].skills if s not in skills]

    def _course_dists(self, hop, goal, skills, taken) -> tuple[list[str], list[np.ndarray]]:
        """P(next course) for every preference type: softmax over useful courses plus detours.

        Vectorised over the catalog (course x skill matrices), since this runs for every step of
        every user.
        """
        cfg, cat = self.cfg, self.catalog
        lacking = np.ones(len(self.skill_list), dtype=bool)
        for s in skills:
            lacking[self.skill_order[s]] = False
        want = np.zeros(len(self.skill_list))
        for s, w in skill_gap(skills, cat.jobs[hop]):
            want[self.skill_order[s]] += cfg.hop_weight * w
        for s, w in skill_gap(skills, cat.jobs[goal]):
            want[self.skill_order[s]] += cfg.goal_weight * w
        # skills that unlock a wanted course's prerequisites count for half
        if self.sparse:
            course_want = synthesis._sparse_max(self.teach_m, want[self.teach_m.indices], axis=1)
            unlock = 0.5 * synthesis._sparse_max(self.prereq_m, course_want[self._prereq_rows], axis=0)
        else:
            course_want = (self.teach_m * want).max(axis=1)
            unlock = 0.5 * (self.prereq_m * course_want[:, None]).max(axis=0)
        value = np.where(want > 0, want, unlock) * lacking
        lack = lacking.astype(np.float32) if self.sparse else lacking
        eligible = (self.prereq_m @ lack == 0) & (self.teach_m @ lack > 0)
        for c in taken:
            eligible[self.course_pos[c]] = False
        idx = np.flatnonzero(eligible)
        if idx.size == 0:
            return [], []
        ids = [self.course_list[i] for i in idx]
        gain = self.teach_m[idx] @ value
        useful = gain > 0
        dists = []
        for pref in self.type_pref:
            probs = np.full(idx.size, cfg.detour_prob / idx.size)
            if not useful.any():
                dists.append(np.full(idx.size, 1.0 / idx.size))
                continue
            z = (cfg.gain_weight * gain[useful] + pref[idx][useful]) / cfg.temperature
            z = np.exp(z - z.max())
            probs[useful] += (1.0 - cfg.detour_prob) * z / z.sum()
            dists.append(probs)
        return ids, dists

    def _job_dist(self, job: str, hop: str, skills: set[str]) -> dict[str, float]:
        """P(next job | skills after the course): move to the next hop when ready, else stay."""
        cfg, cat = self.cfg, self.catalog
        dist = {STAY: 1.0}
        if coverage(skills, cat.jobs[hop]) >= cfg.move_threshold:
            dist[hop] = cfg.move_prob
            dist[STAY] -= cfg.move_prob
        laterals = [
            b
            for b, _ in self.prog.next_jobs[job]
            if b != hop and coverage(skills, cat.jobs[b]) >= cfg.move_threshold
        ]
        if laterals:
            share = cfg.lateral_prob * dist[STAY]
            for b in laterals:
                dist[b] = dist.get(b, 0.0) + share / len(laterals)
            dist[STAY] -= share
        return dist

    def _job_dists(self, job, hop, skills, course_ids) -> dict[str, dict[str, float]]:
        """Job distribution after each candidate course; courses adding no relevant skill share one."""
        relevant = set(self.catalog.jobs[hop].skills)
        for b, _ in self.prog.next_jobs[job]:
            relevant |= set(self.catalog.jobs[b].skills)
        base = self._job_dist(job, hop, skills)
        mask = np.zeros(len(self.skill_list))
        for sk in relevant - skills:
            mask[self.skill_order[sk]] = 1.0
        hits = self.teach_m @ mask
        out = dict.fromkeys(course_ids, base)
        for i in np.flatnonzero(hits > 0):
            cid = self.course_list[i]
            if cid in out:
                new = set(self.catalog.courses[cid].skills) & relevant
                out[cid] = self._job_dist(job, hop, skills | new)
        return out

    def _sample_job(self, dist: dict[str, float], rng: np.random.Generator) -> str:
        keys = list(dist)
        p = np.array([dist[k] for k in keys])
        return keys[rng.choice(len(keys), p=p / p.sum())]

    def _probs(self, ids, p_course, job_dists, job, hop, skills) -> dict:
        """Rounded course and (marginal over the course, abandonment included) job probabilities."""
        p_course = p_course / p_course.sum()
        ab = self.cfg.abandon_prob
        # most courses share one job distribution object: add their mass once per object (in order
        # of first occurrence; bincount adds in input order, like a running sum)
        dists = [job_dists[cid] for cid in ids]
        first: dict[int, int] = {}
        group = np.fromiter(
            (first.setdefault(id(d), len(first)) for d in dists), dtype=np.int64, count=len(dists)
        )
        objects = list({id(d): d for d in dists}.values())
        jobs: dict[str, float] = {}
        for d, p in zip(objects, np.bincount(group, weights=p_course)):
            for j, q in d.items():
                jobs[j] = jobs.get(j, 0.0) + (1 - ab) * p * q
        for j, q in self._job_dist(job, hop, skills).items():
            jobs[j] = jobs.get(j, 0.0) + ab * q
        # detours spread a little mass over every eligible course; keep the rows small by storing
        # courses above PROB_FLOOR and the mass of the rest in "course_other"
        keep = p_course >= PROB_FLOOR
        return {
            "course": {ids[i]: round(float(p_course[i]), 5) for i in np.flatnonzero(keep)},
            "course_other": round(float(p_course[~keep].sum()), 5),
            "job": {j: round(q, 5) for j, q in jobs.items() if q >= 1e-5},
        }
