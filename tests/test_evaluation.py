"""`careerpath evaluate` end to end on the tiny dataset, with a tiny model trained here."""

import json
from pathlib import Path

import numpy as np
import pytest

from careerpath.eval import evaluation
from careerpath.eval.baselines import (
    OracleScorer,
    evaluate_scorer,
    gold_indices,
    load_split,
    read_catalog_ids,
)
from careerpath.model import scoring

ROOT = Path(__file__).resolve().parent.parent
FAST = dict(max_examples=16, bias_users=4, counterfactual_examples=4, pathway_max_steps=3, progress=False)


@pytest.fixture(scope="module")
def first_run(tiny_model, tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "report"
    m = evaluation.evaluate_model(tiny_model, tiny_dataset, "test", out_dir=out, log=lambda s: None, **FAST)
    return out, m


def _numbers(m: dict) -> dict:
    return {k: v for k, v in m.items() if k not in ("timing_s", "baseline_sources")}


def test_outputs_and_keys(first_run, tiny_dataset):
    out, m = first_run
    for name in ("metrics.json", "report.md", "hit_at_k.png", "by_family.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert json.loads((out / "metrics.json").read_text()) == m
    assert m["split"] == "test" and m["n"] == 16
    for sec in ("next_course", "next_job", "next_job_moves"):
        assert {"acc@1", "hit@5", "hit@10", "mrr", "n", "log_loss"} <= set(m["model"][sec])
    gen = m["model"]["generation"]
    assert {"bleu", "exact_match", "skills_gained", "validity"} <= set(gen) and gen["n"] == 16
    assert set(gen["skills_gained"]) == {"precision", "recall", "f1"}
    assert set(gen["validity"]) == {"next_course", "next_job"}
    assert set(m["model"]["log_loss"]) == {"next_course", "next_job", "next_job_moves"}
    # the tiny model trains on top of the course prior: the prior alone and the model alone are reported too
    assert set(m["baselines"]) == {
        "popularity",
        "stay_rule",
        "markov",
        "gru",
        "gap_rule",
        "course_prior",
        "model_no_prior",
    }
    trained = set(m["baselines"]) - {"gap_rule", "course_prior", "model_no_prior"}  # computed, not trained
    assert all((out / "baselines" / b / "baseline.json").is_file() for b in trained)
    assert {"oracle", "oracle_traits_known", "stats"} <= set(m["oracle"])
    assert set(m["ratio_to_ceiling"]) == {"next_course", "next_job", "next_job_moves"}
    b = m["bias"]
    for key in ("by_start_family", "by_start_level", "largest_gaps", "goal_reach", "coverage@10", "gini@10"):
        assert key in b, key
    assert "counterfactual" in b and b["counterfactual"]["n"] == 4
    gr = b["goal_reach"]
    assert gr["n_users"] == 4 and "by_start_family" in gr
    for plan in ("model", "skill-gap"):  # reach, hours against the shortest plan, steps
        assert set(gr["plans"][plan]) == {"reach", "hours_ratio", "max_hours_ratio", "steps", "hours"}
    # a 3-step budget here: the fewest-steps plan may take more hours than the shortest one
    assert gr["max_steps"] == 3 and not gr["plans"]["model"]["hours_ratio"] < 1.0 - 1e-9
    assert set(b["largest_gaps"]) == {"start_family", "start_level"}


def test_report_table_and_ratio(first_run):
    out, m = first_run
    report = (out / "report.md").read_text()
    assert report == evaluation.render_report(m)
    table = evaluation.main_table(m)
    labels = [line.split("|")[1].strip() for line in table.splitlines()[2:]]
    assert labels == [
        "model",
        "popularity",
        "stay rule",
        "Markov",
        "GRU",
        "skill-gap rule",
        "priors alone (course and job priors, no model)",
        "model without its priors",
        "oracle (from the text)",
        "oracle (traits known)",
    ]
    assert table in report and "## Generation" in report and "## Bias" in report
    # ratio = model acc@1 / oracle (from the text) acc@1, on the same rows
    for sec in ("next_course", "next_job", "next_job_moves"):
        model, ceil = m["model"][sec]["acc@1"], m["oracle"]["oracle"][sec]["acc@1"]
        assert m["ratio_to_ceiling"][sec] == (pytest.approx(model / ceil) if ceil else None)
    model_row = table.splitlines()[2].split("|")
    assert model_row[2].strip() == f"{m['model']['next_course']['acc@1']:.3f}"
    assert model_row[8].strip() == f"{m['model']['move_timing']['auc']:.3f}"
    assert model_row[9].strip() == f"{m['model']['move_destination']['acc@1']:.3f}"
    # the model against its priors, with the interval, in the report
    ci = m["model_vs_priors"]["next_course"]["acc@1"]
    assert ci["lo"] <= ci["mean"] <= ci["hi"] and f"{ci['mean']:+.4f}" in report


def test_oracle_matches_stats(first_run, tiny_dataset):
    _, m = first_run
    stats = json.loads((tiny_dataset / "stats.json").read_text())
    assert m["oracle"]["stats"]["visible"] == stats["oracle"]["test"]["visible"]
    assert m["oracle"]["stats"]["traits_known"] == stats["oracle"]["test"]["traits_known"]
    assert m["oracle"]["stats"]["oracle_acc"] == stats["oracle_acc"]
    # on the whole split, the re-scored oracle agrees with what the build states, up to ties: the
    # build breaks ties at the top by id, evaluate_scorer counts them against the method
    rows = load_split(tiny_dataset, "test")
    c, j = read_catalog_ids(tiny_dataset)
    gold_c, gold_j = gold_indices(rows, c, j)
    for which, key in (("probs_visible", "visible"), ("probs", "traits_known")):
        scorer = OracleScorer(c, j, which)
        res = evaluate_scorer(scorer, rows, c, j)
        course_lp, job_lp = scorer.score(rows)
        for sec, lp, gold in (("next_course", course_lp, gold_c), ("next_job", job_lp, gold_j)):
            top_or_tied = np.mean(lp[np.arange(len(rows)), gold] >= lp.max(axis=1))
            stated = stats["oracle"]["test"][key][sec]
            assert res[sec]["acc@1"] - 1e-4 <= stated <= top_or_tied + 1e-4


@pytest.mark.slow
def test_deterministic_and_model_ranked_by_catalog_scorer(
    first_run, tiny_model, tiny_dataset, tmp_path, monkeypatch
):
    out1, m1 = first_run
    fast = dict(FAST, baselines_dir=out1 / "baselines")
    m2 = evaluation.evaluate_model(
        tiny_model, tiny_dataset, out_dir=tmp_path / "again", log=lambda s: None, **fast
    )
    assert _numbers(m2) == _numbers(m1)
    assert not (tmp_path / "again" / "baselines").exists()  # reused, not retrained

    # the model's ranking goes through CatalogScorer.score: a planted ranking shows up in the metrics
    rows = load_split(tiny_dataset, "test")
    keep = np.sort(np.random.default_rng(0).choice(len(rows), size=16, replace=False))
    rows = [rows[i] for i in keep]
    course_ids, job_ids = read_catalog_ids(tiny_dataset)
    gold_c, gold_j = gold_indices(rows, course_ids, job_ids)
    calls = []

    def planted(self, texts, skill_ids):  # rows arrive in order, in batches
        start = sum(calls) % len(rows)  # a second pass: the model without its course prior
        calls.append(len(texts))
        c = np.full((len(texts), len(self.course_ids)), -10.0)
        jl = np.full((len(texts), len(self.job_ids)), -10.0)
        for i, t in enumerate(texts):
            assert t == rows[start + i]["input_text"]
            c[i, gold_c[start + i]] = 0.0
            jl[i, gold_j[start + i]] = 0.0
        return c, jl

    monkeypatch.setattr(scoring.CatalogScorer, "score", planted)
    m3 = evaluation.evaluate_model(
        tiny_model, tiny_dataset, out_dir=tmp_path / "planted", generation_examples=0, bias=False, **fast
    )
    assert sum(calls) == 2 * 16  # the model, then the model without its course prior
    for sec in ("next_course", "next_job", "next_job_moves"):
        assert m3["model"][sec]["acc@1"] == 1.0
    assert m3["bias"]["goal_reach"] == {"skipped": True}


def test_main_errors(tmp_path, tiny_dataset, capsys):
    assert (
        evaluation.main(
            ["--model", str(tmp_path / "nope"), "--data", str(tiny_dataset), "--out", str(tmp_path / "r")]
        )
        == 2
    )
    assert "careerpath quickstart" in capsys.readouterr().err
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    empty = tmp_path / "data"
    empty.mkdir()
    assert evaluation.main(["--model", str(model), "--data", str(empty), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "test.jsonl" in err and "careerpath data build" in err


def test_main_prints_table(first_run, tiny_model, tiny_dataset, tmp_path, capsys):
    out1, _ = first_run
    argv = ["--model", str(tiny_model), "--data", str(tiny_dataset), "--out", str(tmp_path / "r"), "--quiet"]
    argv += [
        "--baselines",
        str(out1 / "baselines"),
        "--max-examples",
        "6",
        "--generation-examples",
        "2",
        "--no-bias",
    ]
    assert evaluation.main(argv) == 0
    printed = capsys.readouterr().out
    assert "| oracle (traits known) |" in printed and "model / ceiling" in printed
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert (
        m["n"] == 6
        and m["model"]["generation"]["n"] == 2
        and m["bias"]["counterfactual"] == {"skipped": True}
    )
