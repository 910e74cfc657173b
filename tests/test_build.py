import dataclasses
import json

import numpy as np
import pytest

from careerpath.app.cli import main
from careerpath.core.catalog import load_catalog
from careerpath.core.context import GapRetriever
from careerpath.core.progression import Progression
from careerpath.data import synthesis
from careerpath.data.build import SPLITS, build_dataset, load_data_config
from careerpath.data.synthesis import (
    RowWriter,
    Synthesiser,
    event_to_row,
    oracle_values,
)
from careerpath.data.synthesis_record import probs_dict


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
    from careerpath.core.textformat import parse_input, parse_target

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

    import careerpath.data.build as build

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


# -- the batched generator and the parallel build (issues 10 and 26) ---------------------------


def _rows_of(synth, catalog, users):
    return [json.dumps(event_to_row(ev, catalog), ensure_ascii=False) for i in users for ev in synth.user(i)]


def _setup(catalog_dir=None, **overrides):
    cfg = load_data_config(None, {"catalog": catalog_dir and str(catalog_dir), **overrides})
    catalog = load_catalog(cfg.catalog)
    prog = Progression(catalog, n_next=cfg.n_next_jobs, n_courses=cfg.n_courses_per_job)
    return cfg, catalog, prog


def _stats(synth, catalog, n):
    from tests.distribution import trajectory_stats

    return trajectory_stats(
        catalog,
        [synth.user(i) for i in range(n)] if not hasattr(synth, "batch") else synth.batch(np.arange(n)),
    )


def test_batched_generator_simulates_the_same_people_as_the_reference(tiny_catalog_dir):
    """Not byte-identical (the draws are made differently) but the same distribution: the oracle
    ceiling, path lengths, move rates, course choices per learner type and the goal-less and
    job-only shares agree with the per-user reference generator within sampling error; and the
    comparison does see a generator that behaves differently."""
    from tests import reference_synthesis
    from tests.distribution import compare

    cfg, cat, prog = _setup(tiny_catalog_dir, seed=3, no_goal_share=0.1, job_only_share=0.1)
    n = 1500
    ref = _stats(reference_synthesis.Synthesiser(cat, prog, cfg.synthesis), cat, n)
    new = _stats(Synthesiser(cat, prog, cfg.synthesis), cat, n)
    assert compare(ref, new) == {}
    for key in ("oracle/visible/next_course_expected", "move_rate", "path_length", "no_goal_share"):
        assert (
            new[key][0] > 0
            and abs(new[key][0] - ref[key][0]) < 4 * (ref[key][1] ** 2 + new[key][1] ** 2) ** 0.5
        )
    assert new["course_hours/quick"][0] < new["course_hours/balanced"][0] < new["course_hours/deep"][0]
    assert new["job_only_share"][0] == pytest.approx(0.1, abs=0.03)
    assert new["no_goal_share"][0] == pytest.approx(0.2, abs=0.04)
    other_cfg, _, _ = _setup(
        tiny_catalog_dir, seed=3, no_goal_share=0.1, job_only_share=0.1, temperature=1.0, move_prob=0.5
    )
    changed = compare(ref, _stats(Synthesiser(cat, prog, other_cfg.synthesis), cat, n))
    assert "move_rate" in changed and "oracle/visible/next_course_expected" in changed, changed


def test_batch_context_is_what_the_retriever_gives(tiny_catalog_dir):
    """The build writes the context the generator computed for the whole batch; it must be what
    GapRetriever (the recommender's) gives for every row, with the default and other weights."""
    for overrides, ctx in (
        ({}, {}),
        (
            {"catalog": tiny_catalog_dir},
            {"goal_weight": 0.8, "prereq_weight": 0.3, "max_best": 2, "options": 3, "move_threshold": 0.6},
        ),
    ):
        cfg, cat, prog = _setup(overrides.get("catalog"), seed=9, no_goal_share=0.2, job_only_share=0.1)
        from dataclasses import replace

        cfg.context = replace(cfg.context, **ctx)
        synth = Synthesiser(cat, prog, cfg.synthesis, cfg.context)
        retriever = GapRetriever(cat, prog, cfg.context)
        events = [ev for evs in synth.batch(np.arange(150)) for ev in evs]
        assert len(events) > 300
        ready = 0
        for ev in events:
            assert ev.context == retriever.context(
                ev.job, ev.goal if ev.goal_stated else "", ev.skills, ev.courses
            )
            ready += bool(ev.context.ready_after)
        assert ready > 10  # the readiness part is exercised


@pytest.mark.parametrize("seed", [0, 13])
def test_a_user_is_the_same_in_any_batch(seed):
    cfg, cat, prog = _setup(
        None,
        seed=seed,
        no_goal_share=0.1,
        job_only_share=0.1,
        provider_bonus=0.5,
        family_move_prob={"healthcare": 0.3},
    )
    synth = Synthesiser(cat, prog, cfg.synthesis, cfg.context)
    writer = RowWriter(cat, GapRetriever(cat, prog, cfg.context))
    lines = lambda users: [writer.line(ev) for evs in users for ev in evs]  # noqa: E731
    whole = lines(synth.batch(np.arange(40)))
    assert whole == lines(synth.batch(np.arange(k, k + 1))[0] for k in range(40))
    assert whole == lines(
        evs for lo in (0, 7, 30) for evs in synth.batch(np.arange(lo, {0: 7, 7: 30, 30: 40}[lo]))
    )
    assert lines(synth.batch(np.array([5, 3]))) == lines([synth.user(5), synth.user(3)])


def test_uniforms_are_uniform_and_keyed_by_user_step_and_purpose():
    users = np.arange(200_000)
    u = synthesis.uniforms(7, users, 3, 0)
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.003
    counts = np.bincount((u * 20).astype(int), minlength=20)
    assert counts.min() > 0.95 * len(users) / 20 and counts.max() < 1.05 * len(users) / 20
    others = [
        synthesis.uniforms(7, users, 4, 0),
        synthesis.uniforms(7, users, 3, 1),
        synthesis.uniforms(8, users, 3, 0),
    ]
    for v in others:
        assert abs(np.corrcoef(u, v)[0, 1]) < 0.01 and not np.array_equal(u, v)
    assert np.array_equal(synthesis.uniforms(7, users[::-1][:100], 3, 0), u[::-1][:100])


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


def test_json_only_records_write_the_same_rows_and_read_back_the_same_dicts(tiny_catalog_dir):
    """The data build asks for the probabilities' JSON alone (``batch(ids, dicts=False)``): the
    writer's rows, the fallback through ``event_to_row`` and the dicts read back (the
    probabilities and ``job_given_course``) are the same."""
    cfg, cat, prog = _setup(tiny_catalog_dir, seed=5, no_goal_share=0.2)
    context = GapRetriever(cat, prog, cfg.context)
    synth, writer = Synthesiser(cat, prog, cfg.synthesis, cfg.context), RowWriter(cat, context)
    full = [ev for evs in synth.batch(np.arange(30)) for ev in evs]
    lean = [ev for evs in synth.batch(np.arange(30), dicts=False) for ev in evs]
    assert len(full) == len(lean) > 40
    for a, b in zip(full, lean, strict=True):
        assert b.probs == {} and b.probs_visible == {} and b.oracle == a.oracle
        assert b.job_given_course == {} and probs_dict(b.job_given_course) == a.job_given_course
        assert list(probs_dict(b.job_given_course)) == list(a.job_given_course)
        for pa, pb in ((a.probs, b.probs), (a.probs_visible, b.probs_visible)):
            back = probs_dict(pb)
            assert back == pa and list(back) == list(pa) and list(back["course"]) == list(pa["course"])
            assert probs_dict(pa) is pa
        assert writer.line(b) == writer.line(a)
        assert json.dumps(event_to_row(b, cat, context), ensure_ascii=False) + "\n" == writer.line(a)
    odd = dataclasses.replace(full[0], user_id='u "7"\\é')  # an id to escape: json.dumps writes it
    assert writer.line(odd) == json.dumps(event_to_row(odd, cat, context), ensure_ascii=False) + "\n"


@pytest.mark.parametrize("with_context", [False, True])
def test_rows_made_without_events_are_the_events_rows(tiny_catalog_dir, with_context):
    """``batch_rows`` (what the data build writes) gives each user's rows and oracle values
    as ``batch(ids, dicts=False)`` then ``writer.line`` and ``oracle_values`` give them: stated
    and unstated goals, job-only profiles, the provider and family variants, with and without
    the catalog context. Where the writer cannot look names up by index it says so (None)."""
    family = min(j.family for j in load_catalog(str(tiny_catalog_dir)).jobs.values())
    cfg, cat, prog = _setup(
        tiny_catalog_dir,
        seed=3,
        no_goal_share=0.2,
        job_only_share=0.1,
        provider_bonus=0.5,
        family_move_prob={family: 0.3},
    )
    context = GapRetriever(cat, prog, cfg.context) if with_context else None
    synth, writer = Synthesiser(cat, prog, cfg.synthesis, cfg.context), RowWriter(cat, context)
    ids = np.arange(60)
    made = synth.batch_rows(ids, writer)
    want = [
        ([writer.line(ev) for ev in evs], [oracle_values(ev) for ev in evs])
        for evs in synth.batch(ids, dicts=False)
    ]
    assert made == want and sum(len(rows) for rows, _ in made) > 100
    assert any('"goal": ""' in row for rows, _ in made for row in rows)  # unstated goals are among them
    assert with_context == all('"next_step_id"' in row for rows, _ in made for row in rows)
    # a generator without the context cannot give a writer with one its contexts
    if with_context:
        assert Synthesiser(cat, prog, cfg.synthesis).batch_rows(ids, writer) is None
    # a course name the text format rejects: its rows take the events' path (event_to_row's error)
    odd = load_catalog(cfg.catalog)
    cid = next(iter(odd.courses))
    odd.courses[cid] = dataclasses.replace(odd.courses[cid], title="x " * 400)
    assert synth.batch_rows(ids, RowWriter(odd, context)) is None
    # a writer for another catalog's ids
    other = load_catalog(cfg.catalog)
    other.skills.pop(next(iter(other.skills)))
    assert synth.batch_rows(ids, RowWriter(other, None)) is None


def test_course_probabilities_are_zero_where_no_course_is_eligible(tiny_catalog_dir, monkeypatch):
    """The recorded probabilities read the eligible courses off p alone (``_recorded``): both
    distributions (the type's and the visible mixture) are exactly 0 outside the eligible
    courses, and sum to 1 over them, in every step of every user (both variants' settings)."""
    cfg, cat, prog = _setup(tiny_catalog_dir, seed=11, no_goal_share=0.2, provider_bonus=0.5)
    synth = Synthesiser(cat, prog, cfg.synthesis, cfg.context)
    seen = []
    real = Synthesiser._course_probs

    def checked(self, elig, n_el, *args):
        p_type, p_vis, column = real(self, elig, n_el, *args)
        for p in (p_type, p_vis):
            assert (p[~elig] == 0).all() and np.allclose(p.sum(1), 1.0)
        seen.append(int(elig.sum()))
        return p_type, p_vis, column

    monkeypatch.setattr(Synthesiser, "_course_probs", checked)
    assert sum(map(len, synth.batch(np.arange(50), dicts=False))) > 100
    assert len(seen) >= 3 and min(seen) > 0


def test_batch_json_slices_are_each_rows_join():
    """``_slices``: one join of the batch, sliced per row, is each row's own ``", ".join`` (rows with
    no pairs included, and a batch with none at all)."""
    from careerpath.data.synthesis_record import _slices

    keys = np.array(['"a": ', '"bb": ', '"a": ', '"c": '], dtype=object)
    nums = np.array(["0.5", "1e-05", "0.25", "0.0"], dtype=object)
    lengths = np.array([len(k) + len(n) for k, n in zip(keys, nums, strict=True)])
    bounds = [0, 0, 2, 2, 4, 4]  # rows: none, two, none, two, none
    want = ["", '"a": 0.5, "bb": 1e-05', "", '"a": 0.25, "c": 0.0', ""]
    assert _slices(keys, nums, lengths, bounds) == want
    empty = np.array([], dtype=object)
    assert _slices(empty, empty, np.array([], dtype=np.int64), [0, 0, 0]) == ["", ""]


def test_chunk_buffers_spans_and_overflow():
    """A chunk's splits go into its buffer one after the other as UTF-8, with their byte spans;
    one that does not fit gives None."""
    from careerpath.data.build import ChunkBuffers

    bufs = ChunkBuffers(2, size=64)
    try:
        spans = bufs.write(1, {"train": ["ab\n", "\u00e9\n"], "validation": [], "test": ["x\n"]})
        assert spans == {"train": (0, 6), "validation": (6, 6), "test": (6, 8)}
        assert bufs.buffers[1][:8] == "ab\n\u00e9\nx\n".encode()
        assert bufs.write(0, {"train": ["y" * 40, "z" * 40]}) is None
        assert bufs.write(0, {"train": ["y" * 64]}) == {"train": (0, 64)}
    finally:
        bufs.close()


def test_user_i_is_the_same_whatever_the_order_or_chunk():
    cfg, cat, prog = _setup(None, seed=13)
    synth = Synthesiser(cat, prog, cfg.synthesis)
    forward = {i: _rows_of(synth, cat, [i]) for i in range(12)}
    fresh = Synthesiser(cat, prog, cfg.synthesis)
    assert {i: _rows_of(fresh, cat, [i]) for i in reversed(range(12))} == forward


def _bytes_cfg(catalog_dir, workers: int, batch: int):
    """The byte-identity test's build: 60 users of the tiny catalog, some without a goal."""
    return load_data_config(
        None,
        {
            "catalog": str(catalog_dir),
            "users": 60,
            "seed": 2,
            "workers": workers,
            "batch_users": batch,
            "no_goal_share": 0.2,
            "job_only_share": 0.1,
        },
    )


def test_build_bytes_do_not_depend_on_workers_or_batch_size(tiny_catalog_dir, tmp_path, monkeypatch):
    import careerpath.data.build as build

    monkeypatch.setattr(build, "CHUNK_USERS", 13)  # several chunks per worker, out-of-order finishes
    outs = {}
    for workers, batch in ((1, 256), (2, 5), (3, 1), (1, 13)):
        cfg = _bytes_cfg(tiny_catalog_dir, workers, batch)
        outs[workers, batch] = tmp_path / f"w{workers}-b{batch}"
        build_dataset(cfg, outs[workers, batch], progress=False)
    first = outs[1, 256]
    names = sorted(p.name for p in first.iterdir() if p.is_file())
    assert "train.jsonl" in names and "stats.json" in names
    for key, out in outs.items():
        for name in names:
            assert (out / name).read_bytes() == (first / name).read_bytes(), (key, name)
    config = json.loads((first / "stats.json").read_text())["config"]
    assert "workers" not in config and "batch_users" not in config
    # buffers about a chunk's average size: chunks that fit go through them, the others as
    # bytes through the pipe (both in one build), and the files are the same
    chunk_bytes = sum((first / f"{s}.jsonl").stat().st_size for s in SPLITS) // 5  # 60 users / 13
    monkeypatch.setattr(build.ChunkBuffers, "SIZE", chunk_bytes)
    ways, slots = [], []
    write_chunk = build._write_chunk

    def record(handle, chunk, split, buffers):
        ways.append("buffer" if chunk["text"] is None else "bytes")
        slots.append(chunk["slot"])
        write_chunk(handle, chunk, split, buffers)

    monkeypatch.setattr(build, "_write_chunk", record)
    for workers in (1, 2):
        cfg = _bytes_cfg(tiny_catalog_dir, workers, 5)
        ways.clear()
        out = tmp_path / f"small-buffers-w{workers}"
        build_dataset(cfg, out, progress=False)
        assert set(ways) == {"buffer", "bytes"}, ways
        for name in names:
            assert (out / name).read_bytes() == (first / name).read_bytes(), (workers, name)
    # 20 chunks of 3 users through 2 workers' 7 buffers: each buffer is written again once the
    # writer has read its last chunk, and the files are still the same
    monkeypatch.setattr(build.ChunkBuffers, "SIZE", 1 << 20)
    monkeypatch.setattr(build, "CHUNK_USERS", 3)
    ways.clear()
    slots.clear()
    build_dataset(cfg, tmp_path / "reused-buffers", progress=False)
    assert set(ways) == {"buffer"} and len(slots) == 20 * len(SPLITS)
    assert sorted(set(slots)) == list(range(build.buffers_needed(2)))
    for name in names:
        assert (tmp_path / "reused-buffers" / name).read_bytes() == (first / name).read_bytes(), name
    with pytest.raises(ValueError, match="batch_users"):
        load_data_config(None, {"batch_users": 0})


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers"):
        load_data_config(None, {"workers": 0})


def test_oracle_from_values_equals_oracle_from_rows(tiny_dataset):
    from careerpath.data.build import _Oracle

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


def test_oracle_rows_added_as_arrays_give_the_loops_sums_bit_for_bit():
    """Workers send the oracle values as arrays (``pack_oracle``) and the build adds a chunk at a
    time (``add_rows``): the same running sums, bit for bit, as adding row by row, whatever the
    chunking, with stays (8 values) and moves (10) mixed and chunks without a move."""
    from careerpath.data.build_stats import _Oracle, pack_oracle

    rng = np.random.default_rng(3)
    rows = []
    for k in range(3000):
        move = k >= 40 and rng.random() < 0.3  # the first chunk has no move
        vals = [
            float(rng.integers(0, 2)) if i % 2 == 0 else int(rng.integers(0, 100001)) / 1e5 for i in range(10)
        ]
        rows.append((move, vals if move else vals[:8], k == 2000))
    loop = _Oracle()
    for row in rows:
        loop.add_values(*row)
    for bounds in ((0, 3000), (0, 40, 41, 977, 2999, 3000), tuple(range(0, 3001, 7)) + (3000,)):
        packed = _Oracle()
        for lo, hi in zip(bounds, bounds[1:]):
            p = pack_oracle(rows[lo:hi])
            packed.add_rows(p["values"], p["move"], p["numpy"])
        assert (packed.n, packed.moves, packed.numpy_keys) == (loop.n, loop.moves, loop.numpy_keys)
        assert packed.sums == loop.sums  # exact float equality
        assert packed.result() == loop.result()
    # and the sums are not all exact in floating point: the order of additions matters here
    assert sum(reversed([r[1][1] for r in rows])) != loop.sums["visible/next_course_expected"]


def test_shards_merge_into_the_single_build_byte_for_byte(tiny_catalog_dir, tmp_path, capsys):
    """``data build --shard K/N`` on each of N machines, then ``data merge``: the same dataset."""
    common = ["--catalog", str(tiny_catalog_dir), "--users", "70", "--seed", "4", "--quiet"]
    assert main(["data", "build", *common, "--out", str(tmp_path / "single")]) == 0
    for k in (2, 0, 1):
        assert main(["data", "build", *common, "--shard", f"{k}/3", "--out", str(tmp_path / f"s{k}")]) == 0
    assert "join the shards" in capsys.readouterr().out
    shards = [str(tmp_path / f"s{k}") for k in (1, 2, 0)]
    assert main(["data", "merge", *shards, "--out", str(tmp_path / "merged"), "--quiet"]) == 0
    single, merged = tmp_path / "single", tmp_path / "merged"
    files = sorted(p.relative_to(single) for p in single.rglob("*") if p.is_file())
    assert "stats.json" in map(str, files) and len(files) > 8
    assert files == sorted(p.relative_to(merged) for p in merged.rglob("*") if p.is_file())
    for name in files:
        assert (merged / name).read_bytes() == (single / name).read_bytes(), name
    # rows are split between the shards, none twice
    ids = [json.loads(line)["user_id"] for k in range(3) for line in open(tmp_path / f"s{k}" / "train.jsonl")]
    assert len(ids) == sum(1 for _ in open(single / "train.jsonl"))
    # a missing or foreign shard is refused, naming what is wrong; nothing is written
    assert main(["data", "merge", *shards[:2], "--out", str(tmp_path / "bad")]) == 2
    assert "every shard K/N" in capsys.readouterr().err
    other = tmp_path / "other"
    assert (
        main(["data", "build", *common[:-3], "--seed", "5", "--shard", "0/3", "--out", str(other), "--quiet"])
        == 0
    )
    assert main(["data", "merge", str(other), *shards[:2], "--out", str(tmp_path / "bad")]) == 2
    assert "another config" in capsys.readouterr().err
    assert main(["data", "build", *common, "--shard", "3/3", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "bad").exists() and not (tmp_path / "x").exists()


def test_generator_oracle_values_are_those_of_the_recorded_probabilities(tiny_catalog_dir):
    """The build adds the oracle values the generator computed with the numbers; they must be
    what :func:`oracle_values_of_probs` reads off each row's recorded probabilities."""
    from careerpath.data.synthesis import oracle_values_of_probs

    for catalog in (None, tiny_catalog_dir):
        cfg, cat, prog = _setup(catalog, seed=21, no_goal_share=0.1, job_only_share=0.1)
        events = [ev for evs in Synthesiser(cat, prog, cfg.synthesis).batch(np.arange(120)) for ev in evs]
        moves = 0
        for ev in events:
            assert ev.oracle is not None and ev.oracle == oracle_values_of_probs(ev)
            moves += ev.oracle[0]
        assert 0 < moves < len(events)


def test_the_visible_posterior_learns_nothing_from_abandoned_courses(tiny_catalog_dir):
    """The oracle "from the text" (probs_visible) may use only what a later profile shows: an
    abandoned course is never listed, so it must not move the visible type posterior. With every
    course abandoned nothing is ever learned or taken, so while the job stays the same each later
    step's visible course probabilities equal the first step's; the user's own type's do too."""
    cfg, cat, prog = _setup(tiny_catalog_dir, seed=5, abandon_prob=1.0, move_prob=0.0, lateral_prob=0.0)
    checked = 0
    for events in Synthesiser(cat, prog, cfg.synthesis).batch(np.arange(60)):
        first = events[0]
        for ev in events[1:]:
            if ev.job != first.job or ev.goal != first.goal:
                break
            assert ev.courses == [] and ev.skills == first.skills
            assert ev.probs_visible["course"] == first.probs_visible["course"]
            checked += 1
    assert checked > 100


@pytest.mark.skipif(not hasattr(__import__("fcntl"), "F_GETPIPE_SZ"), reason="pipe sizes: Linux only")
def test_the_workers_results_pipe_is_widened():
    """The chunks (tens of MB) come back through a 1 MiB pipe buffer, not 64 KiB; a pool without
    CPython's result queue is left as it is."""
    import fcntl
    import multiprocessing

    from careerpath.data.build import _widen_results_pipe

    if int(open("/proc/sys/fs/pipe-max-size").read()) < 1 << 20:
        pytest.skip("this system caps pipes below 1 MiB (/proc/sys/fs/pipe-max-size)")
    with multiprocessing.get_context("fork").Pool(1) as pool:
        _widen_results_pipe(pool)
        size = fcntl.fcntl(pool._outqueue._reader.fileno(), fcntl.F_GETPIPE_SZ)
    assert size >= 1 << 20
    _widen_results_pipe(object())  # nothing to widen: no error
