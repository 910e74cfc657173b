"""The transition model learned from observed US mobility (careerpath/importers/mobility.py): metrics on a
hand-made flow table, the fit on planted weights, grouped CV without leakage, and the O*NET import
with and without the mobility folder (real data from ../shared/data when it is there)."""

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from careerpath.core.catalog import Transition, load_catalog
from careerpath.importers import mobility as mb
from careerpath.importers.onet import SourceError
from tests.conftest import SHARED_DATA

MOBILITY_REAL = SHARED_DATA / "mobility"
ONET_REAL = SHARED_DATA / "onet_29_3"


def write_mobility(folder: Path, flows: dict, given: set, crosswalk: dict, employment=None) -> Path:
    """A mobility folder in the published layout: groups G0.. with minor group by tens."""
    folder.mkdir(parents=True, exist_ok=True)
    groups = sorted(
        {g for s, row in flows.items() for g in (s, *row)} | {g for v in crosswalk.values() for g in v}
    )
    with open(folder / "cps_nodes.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["node", "title", "employment", "mean_annual_wage", "minor_group", "major_group", "outflows"]
        )
        for i, g in enumerate(groups):
            emp = (employment or {}).get(g, 1000 + i)
            w.writerow(
                [
                    g,
                    f"Title {g}",
                    emp,
                    40000 + 1000 * i,
                    f"m{i // 10}",
                    "M",
                    "given" if g in given else "withheld",
                ]
            )
    with open(folder / "cps_transitions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source", "source_title", "target", "target_title", "probability"])
        for s, row in flows.items():
            for t, p in row.items():
                w.writerow([s, f"Title {s}", t, f"Title {t}", p])
    with open(folder / "onet_to_cps.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["onet_code", "onet_title", "cps_nodes", "cps_titles"])
        for code, gs in crosswalk.items():
            w.writerow([code, code, gs if isinstance(gs, str) else ";".join(gs), ""])
    return folder


# ---------------------------------------------------------------- metrics and loading


def test_metrics_on_a_hand_made_flow_table(tmp_path):
    """README definitions: stay dropped and renormalised, the source and repeats dropped from the list."""
    flows = {"A": {"A": 0.9, "B": 0.05, "C": 0.03, "D": 0.02}}
    mob = mb.load_mobility(write_mobility(tmp_path / "m", flows, {"A"}, {}))
    q = mob.leavers("A")
    assert q == pytest.approx({"B": 0.5, "C": 0.3, "D": 0.2})
    # [A, C, None, C, X, B] -> C, X, B: B (most common) at rank 3
    s = mb.score_ranking(["A", "C", None, "C", "X", "B"], q, "A")
    assert s == pytest.approx({"recall@10": 0.8, "recall@5": 0.8, "hit@10": 1.0, "mrr": 1 / 3})
    long = [f"Z{i}" for i in range(5)] + ["D"] + [f"Y{i}" for i in range(4)] + ["B"]
    s = mb.score_ranking(long, q, "A")  # D at 6 (in the top 10, not the top 5), B at 11
    assert s == pytest.approx({"recall@10": 0.2, "recall@5": 0.0, "hit@10": 0.0, "mrr": 1 / 11})
    assert mb.score_ranking([], q, "A") == {"recall@10": 0.0, "recall@5": 0.0, "hit@10": 0.0, "mrr": 0.0}
    assert mob.scored_sources() == []  # 3 destinations < 5
    assert mob.scored_sources(min_destinations=3) == ["A"]


def test_loading_accepts_both_crosswalk_separators_and_names_bad_files(tmp_path):
    folder = write_mobility(
        tmp_path / "m", {"A": {"A": 1.0}}, {"A"}, {"11-1011.00": "B;A", "11-1021.00": "A B", "55-1011.00": ""}
    )
    mob = mb.load_mobility(folder)
    assert mob.crosswalk["11-1011.00"] == ["B", "A"] and mob.group_of("11-1021.00") == "A"
    assert mob.group_of("55-1011.00") is None and mob.leavers("A") == {}
    (folder / "cps_nodes.csv").write_text("node,title\nA,x\n")
    with pytest.raises(SourceError, match="cps_nodes.csv: missing column"):
        mb.load_mobility(folder)
    with pytest.raises(SourceError, match="not a folder"):
        mb.load_mobility(tmp_path / "nowhere")


# ---------------------------------------------------------------- the fit


def test_fit_recovers_planted_weights():
    rng = np.random.default_rng(0)
    sources, groups, true = 300, 25, np.array([1.5, -1.0, 0.5])
    x = rng.normal(size=(sources, groups, 3)) * np.array([1.0, 2.0, 0.5])
    rows = rng.integers(groups, size=sources)
    u = x @ true
    u[np.arange(sources), rows] = -np.inf  # staying is not a destination
    y = np.exp(u - u.max(axis=1, keepdims=True))
    y /= y.sum(axis=1, keepdims=True)
    model = mb.fit_logit(x, y, rows, l2=1e-8, features=("a", "b", "c"))
    assert model.weights / model.scale == pytest.approx(true, abs=0.02)
    assert model.probabilities(x, rows) == pytest.approx(y, abs=1e-3)


def synthetic_data(tmp_path, seed: int, flip: str | None = None) -> mb.TransitionData:
    """40 groups, 30 given sources whose leavers go mostly to a group predicted by a feature; ``flip``
    gives that source different outflows (everything else identical)."""
    rng = np.random.default_rng(seed)
    groups = [f"G{i:02d}" for i in range(40)]
    flows = {}
    for s in groups[:30]:
        dest = rng.choice([g for g in groups if g != s], size=6, replace=False)
        if s == flip:
            dest = dest[::-1]
        shares = np.array([0.4, 0.2, 0.15, 0.1, 0.1, 0.05]) * 0.1
        flows[s] = {s: 0.9, **{d: float(p) for d, p in zip(dest, shares)}}
    mob = mb.load_mobility(write_mobility(tmp_path / f"m{seed}{flip}", flows, set(groups[:30]), {}))
    prof = mb.GroupProfiles(
        codes={g: [] for g in groups},
        skills=np.random.default_rng(1).normal(size=(40, 8)),
        knowledge=np.random.default_rng(2).normal(size=(40, 8)),
        activities=np.zeros((40, 1)),
        tech=np.zeros((40, 1)),
        zone=np.full(40, 3.0),
        related={},
        has_onet=np.ones(40, dtype=bool),
    )
    return mb.TransitionData(mob, prof, mb.static_features(mob, prof))


def test_grouped_cv_never_scores_a_source_with_its_own_outflows(tmp_path):
    """Change one source's outflows: its held-out ranking must not move (everything that scores it is
    fitted without them), while a fit that saw them does move: the test can tell leakage apart."""
    target = "G07"
    a, b = synthetic_data(tmp_path, 3), synthetic_data(tmp_path, 3, flip=target)
    assert a.mob.leavers(target) != b.mob.leavers(target)
    cv_a, cv_b = mb.cross_validate(a, k=5, seed=0), mb.cross_validate(b, k=5, seed=0)
    assert cv_a["rankings"][target] == cv_b["rankings"][target]
    given = [s for s in a.mob.groups if a.mob.leavers(s)]
    leaky_a, leaky_b = a.fit(given, 1e-2)[1], b.fit(given, 1e-2)[1]
    i = a.pos[target]
    assert not np.allclose(leaky_a[i], leaky_b[i])  # the own row reaches a fit that includes it
    # and the features of a source never read its own row
    fa, _ = a.features(given)
    fb, _ = b.features(given)
    assert np.array_equal(fa[i], fb[i]) and not np.array_equal(fa, fb)


def test_smoothing_moves_towards_the_model_with_strength():
    obs, model = np.array([1.0, 0.0, 0.0]), np.array([0.2, 0.5, 0.3])
    assert mb.smooth(obs, model, 10, 0) == pytest.approx(obs)
    assert mb.smooth(obs, model, 10, 10) == pytest.approx([0.6, 0.25, 0.15])
    assert mb.estimated_movers({"a": 0.5, "b": 0.25}) == 4.0
    q = np.array([0.9, 0.05, 0.05])
    right, per_mover = mb.tune_strength([(q, q.copy())] * 200)  # the model is the truth: trust it
    wrong, _ = mb.tune_strength([(q, q[::-1].copy())] * 200)  # the model is wrong: trust the data
    assert right == max(per_mover) and wrong <= 2


def test_catalog_keeps_the_why_of_transitions(tiny_catalog_dir, tmp_path):
    cat = load_catalog(tiny_catalog_dir)
    t = cat.transitions[0]
    cat.transitions = [
        Transition(t.from_job, t.to_job, 0.25, "9% of x who change occupation become y (US CPS)")
    ]
    cat.save(tmp_path / "c")
    again = load_catalog(tmp_path / "c")
    assert again.transitions == cat.transitions
    cat.transitions = [replace(t, why="")]
    cat.save(tmp_path / "plain")
    assert (tmp_path / "plain" / "transitions.csv").read_text().splitlines()[0] == "from_job,to_job,weight"


def test_recommended_jobs_say_where_the_move_comes_from(tiny_model, tmp_path):
    from careerpath.serving.recommend import Recommender

    rec = Recommender.from_pretrained(tiny_model, use_embeddings=False)
    prof = rec.resolve({"job": "Data Analyst", "skills": ["SQL"]})
    jobs = rec.recommend(prof, top_k=5)["next_jobs"]
    cat = load_catalog(tiny_model / "catalog")
    why = "12% of data analysts who change occupation become this (US CPS)"
    cat.transitions = [Transition(prof.job, jobs[0]["id"], 0.12, why)]
    cat.save(tmp_path / "why")
    rec = Recommender.from_pretrained(tiny_model, catalog_dir=tmp_path / "why", use_embeddings=False)
    again = rec.recommend(prof, top_k=5)["next_jobs"]
    assert again[0]["reason"].startswith(why + "; you hold")
    assert not any(j["reason"].startswith(why) for j in again[1:])


def test_import_with_a_small_mobility_folder(tmp_path, capsys):
    """import-onet --mobility on the few-row release of test_onet: observed sources get the survey's
    share as their why, unobserved ones the model's reasons; a wrong folder fails first, by name."""
    from careerpath.importers import onet
    from tests.test_onet import DEV, MANAGER, NURSE, OTHER, write_release

    src = write_release(tmp_path / "db", "txt")
    groups = {NURSE: "29-1140", MANAGER: "11-9110", DEV: "15-1130", OTHER: "11-9190"}
    flows = {
        "29-1140": {"29-1140": 0.9, "11-9110": 0.06, "15-1130": 0.01, "11-9190": 0.03},
        "11-9110": {"11-9110": 0.95, "29-1140": 0.03, "11-9190": 0.02},
    }
    folder = write_mobility(tmp_path / "mob", flows, set(flows), {c: [g] for c, g in groups.items()})
    out = tmp_path / "cat"
    argv = [str(src), "--out", str(out), "--set", "mobility_embeddings=false"]
    assert onet.main([*argv, "--mobility", str(tmp_path / "nope")]) == 2
    assert "nope: not a folder; pass the mobility folder" in capsys.readouterr().err
    assert onet.main([*argv, "--mobility", str(folder)]) == 0
    assert "no source with 5 observed destinations" in capsys.readouterr().out
    moves = {(t.from_job, t.to_job): t for t in load_catalog(out).transitions}
    assert (
        moves[NURSE, MANAGER].why
        == "60% of title 29-1140 who change occupation become title 11-9110 (US CPS)"
    )
    assert moves[NURSE, DEV].why.startswith("10% of title 29-1140")
    assert moves[MANAGER, NURSE].why.startswith("60% of title 11-9110")
    unobserved = moves[DEV, NURSE].why  # the developers' group is withheld: the model's reasons
    assert "who change occupation" not in unobserved and unobserved.endswith("one job zone down")
    for a in groups:
        assert 0 < sum(t.weight for t in moves.values() if t.from_job == a) <= 1 + 1e-3  # 4 digits
    assert all(t.why for t in moves.values())


# ---------------------------------------------------------------- the real release


@pytest.fixture(scope="module")
def real_data():
    if not (MOBILITY_REAL / "cps_transitions.csv").exists() or not ONET_REAL.exists():
        pytest.skip(
            f"observed mobility or O*NET 29.3 not found under {SHARED_DATA} (../shared/data; set "
            "CAREERPATH_SHARED_DATA to point elsewhere)"
        )
    return MOBILITY_REAL, ONET_REAL


@pytest.mark.slow
def test_transition_model_beats_related_occupations_on_held_out_sources(
    real_data, tmp_path, monkeypatch, capsys
):
    """The issue's bar, through ``benchmarks/mobility.py`` under grouped CV by source: Recall@10 >= 1.5x
    Related Occupations, Hit@10 and MRR at least its (no title embeddings here, to stay fast)."""
    import importlib.util
    import json
    import sys

    from tests.conftest import ROOT

    mobility, onet_path = real_data
    spec = importlib.util.spec_from_file_location("bench_mobility", ROOT / "benchmarks" / "mobility.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "mobility.json"
    argv = ["mobility.py", "--mobility", str(mobility), "--onet", str(onet_path), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", [*argv, "--no-embeddings", "--no-progression"])
    bench.main()
    res = json.loads(out.read_text())
    related, model = res["results"]["O*NET Related Occupations"], res["results"]["transition model (CV)"]
    assert res["sources_scored"] > 200 and res["recall10_vs_related"] >= 1.5
    assert model["recall@10"] >= 1.5 * related["recall@10"]
    assert model["hit@10"] >= related["hit@10"] and model["mrr"] >= related["mrr"]
    ceiling = res["results"]["observed flows (ceiling)"]
    assert ceiling["hit@10"] == 1.0 and model["recall@10"] < ceiling["recall@10"]
    assert "| transition model (CV) |" in capsys.readouterr().out


@pytest.fixture(scope="module")
def mobility_build(real_data, tmp_path_factory):
    """``careerpath data build --source O*NET --mobility ...``: import with the mobility folder, then
    a 200-user dataset on that catalog."""
    from careerpath.app import cli

    mobility, onet_path = real_data
    root = tmp_path_factory.mktemp("mobility_build")
    argv = ["data", "build", "--config", "configs/data/onet.yaml", "--source", str(onet_path)]
    argv += ["--mobility", str(mobility), "--catalog", str(root / "catalog"), "--users", "200"]
    assert cli.main([*argv, "--out", str(root / "data"), "--quiet"]) == 0
    return root / "catalog", root / "data"


@pytest.mark.slow
def test_import_onet_with_and_without_mobility(real_data, mobility_build, tmp_path):
    from careerpath.importers import onet

    mobility, onet_path = real_data
    plain = tmp_path / "plain"
    assert onet.main([str(onet_path), "--out", str(plain), "--set", "courses.generate=false"]) == 0
    a, b = load_catalog(plain), load_catalog(mobility_build[0])
    assert len(a.transitions) == 18460 and not any(t.why for t in a.transitions)
    assert all(t.why for t in b.transitions) and len(b.transitions) > 5000
    nurse = b.job_by_title["Registered Nurses"].id
    manager = b.job_by_title["Medical and Health Services Managers"].id
    move = next(t for t in b.transitions if (t.from_job, t.to_job) == (nurse, manager))
    assert move.why.endswith(
        "of registered nurses who change occupation become medical and health services managers (US CPS)"
    )
    per_job: dict[str, float] = {}
    for t in b.transitions:
        if t.why != "O*NET Related Occupations":
            per_job[t.from_job] = per_job.get(t.from_job, 0.0) + t.weight
    assert max(per_job.values()) <= 1.0 + 1e-3  # probabilities of leaving to each job (4 digits)
    import yaml

    report = yaml.safe_load((mobility_build[0] / "import_report.yaml").read_text())["mobility"]
    assert report["cv_metrics"]["recall@10"] > 0.25 and mb.ATTRIBUTION == report["attribution"]


@pytest.mark.slow
def test_build_train_recommend_on_the_mobility_catalog(mobility_build, tmp_path):
    """End to end with the mobility folder: the progression graph's moves are the most likely observed /
    modelled ones, a tiny model trains on the synthetic careers, and the nurse's pathway to health
    services manager says where its job move comes from."""
    from careerpath.core.config import load_config
    from careerpath.core.progression import Progression
    from careerpath.serving.recommend import Recommender
    from careerpath.training import training
    from tests.conftest import ROOT, TINY_MODEL_ARGS

    catalog_dir, data = mobility_build
    cat = load_catalog(catalog_dir)
    nurse = cat.job_by_title["Registered Nurses"].id
    manager = cat.job_by_title["Medical and Health Services Managers"].id
    likely = sorted((t for t in cat.transitions if t.from_job == nurse), key=lambda t: -t.weight)
    assert [b for b, _ in Progression(cat).next_jobs[nurse]] == [t.to_job for t in likely[:5]]
    cfg = load_config(
        ["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--data.data-dir", str(data)]
        + ["--train.output-dir", str(tmp_path / "model"), *TINY_MODEL_ARGS]
    )
    rec = Recommender.from_pretrained(training.run_training(cfg), use_embeddings=False)
    path = rec.pathway(rec.resolve({"job": "Registered Nurses"}, goal="Medical and Health Services Managers"))
    assert path.reached and path.steps[-1].id == manager, path.note
    first_move = next(s for s in path.steps if s.kind == "job")
    why = {(t.from_job, t.to_job): t.why for t in cat.transitions}
    assert why[nurse, first_move.id] in first_move.reason
