"""Skill tagging: matching rules, confidences and evidence, the review round trip, evaluation."""

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from careerpath.core.catalog import CatalogError, load_catalog
from careerpath.curation import tagging
from careerpath.curation.tagging import (
    HashingEncoder,
    Proposal,
    TaggingConfig,
    evaluate,
    evaluate_tagging,
    load_tagging_config,
    propose,
    read_accepted,
    stem,
)

ROOT = Path(__file__).resolve().parents[1]

SKILLS = """id,name,aliases,category
python,Python,Py,programming
go,Go,Golang,programming
r,R,R Language,data
sql,SQL,Structured Query Language,data
bi,Business Intelligence,BI,data
power-bi,Power BI,,data
unit-testing,Unit Testing,,programming
system-design,System Design,,programming
design-systems,Design Systems,,design
forecasting,Financial Forecasting,Forecasting,finance
objections,Objection Handling,,sales
excel,Microsoft Excel,Excel,data
"""


def make_catalog(tmp_path: Path, courses: list[tuple[str, str, str, str]]) -> Path:
    """A catalog folder with the skills above and the given (id, title, description, skills) courses."""
    d = tmp_path / "cat"
    d.mkdir()
    (d / "skills.csv").write_text(SKILLS)
    with open(d / "courses.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "description", "skills", "prerequisites", "level", "hours", "provider"])
        for cid, title, desc, skills in courses:
            w.writerow([cid, title, desc, skills, "", 1, 10, "x"])
    (d / "jobs.csv").write_text(
        "id,title,alt_titles,description,family,level,skills\n"
        "analyst,Data Analyst,BI Analyst,Writes SQL and builds Power BI reports.,data,2,sql:0.9\n"
    )
    return d


def words_only() -> TaggingConfig:
    return TaggingConfig(embeddings=False)


def proposed(props, item_id, threshold=0.6):
    return {p.skill_id: p for p in props if p.item_id == item_id and p.confidence >= threshold}


def test_stem_maps_inflections_together():
    assert stem("tests") == stem("testing") == stem("test")
    assert stem("budgets") == stem("budgeting")
    assert stem("planning") == stem("plan")
    assert stem("handle") == stem("handling")
    assert stem("process") != stem("proces")  # "process" keeps its double s


def test_word_boundaries_case_and_no_partial_words(tmp_path):
    cat = load_catalog(
        make_catalog(
            tmp_path,
            [
                ("c1", "Pythonic Ideas", "Plan go-to-market launches, let's go! R&D and CI/CD.", "sql"),
                ("c2", "Analysis in R", "Use python and Go for services; write SQL.", "sql"),
                ("c3", "SQL Queries", "Pythonista tips. Sqlite is not SQL server? Excelsior.", "sql"),
            ],
        )
    )
    props = propose(cat, words_only(), None, kinds=("course",), floor=0.0)
    assert proposed(props, "c1") == {}  # "Pythonic", "go-to-market", "go", "R&D" are not skills
    got = proposed(props, "c2")
    assert set(got) == {"r", "python", "go", "sql"}
    assert got["python"].evidence == "python" and got["python"].method == "name"
    assert got["r"].evidence == "R"
    c3 = proposed(props, "c3")
    assert set(c3) == {"sql"}  # not Python from "Pythonista", not Excel from "Excelsior"


def test_aliases_stems_and_overlapping_spans(tmp_path):
    cat = load_catalog(
        make_catalog(
            tmp_path,
            [
                ("c1", "Dashboards", "Build Power BI reports and write unit tests.", "power-bi"),
                ("c2", "Scaling", "System Design for big services. Handle objections politely.", "sql"),
                ("c3", "Golang Services", "Forecasting demand with Structured Query Language.", "go"),
            ],
        )
    )
    props = propose(cat, words_only(), None, kinds=("course",), floor=0.0)
    c1 = proposed(props, "c1")
    assert "power-bi" in c1 and "bi" not in c1  # "BI" inside "Power BI" is not Business Intelligence
    assert c1["unit-testing"].method == "stem" and c1["unit-testing"].evidence == "unit tests"
    c2 = proposed(props, "c2")
    assert "system-design" in c2 and "design-systems" not in c2
    assert c2["objections"].evidence == "Handle objections"
    c3 = {p.skill_id: p for p in props if p.item_id == "c3"}
    assert c3["go"].method == "alias" and c3["go"].confidence >= 0.6
    assert c3["sql"].evidence == "Structured Query Language"
    # "Forecasting" is only part of the name Financial Forecasting: listed, not pre-accepted
    assert c3["forecasting"].method == "alias" and c3["forecasting"].confidence < 0.6


def test_prerequisite_sentences_lower_confidence(tmp_path):
    cat = load_catalog(
        make_catalog(tmp_path, [("c1", "Dashboards", "Build reports. Assumes familiarity with SQL.", "sql")])
    )
    props = propose(cat, words_only(), None, kinds=("course",), floor=0.0)
    (p,) = [p for p in props if p.skill_id == "sql"]
    assert "prerequisite" in p.method and p.confidence < 0.6


def test_every_proposal_has_confidence_and_evidence_and_embeddings_add_candidates(tmp_path):
    cat = load_catalog(
        make_catalog(
            tmp_path,
            [("c1", "Quarterly Numbers", "Projecting revenue: predicting future financial results.", "sql")],
        )
    )
    cfg = TaggingConfig(encoder="hashing", embedding_min=0.3, context_min=0.0)
    props = propose(cat, cfg, HashingEncoder(), floor=0.0)
    assert props
    for p in props:
        assert 0.0 < p.confidence <= 1.0 and p.evidence and p.method
    jobs = proposed(props, "analyst", 0.0)
    assert {"sql", "power-bi"} <= set(jobs)  # job text is tagged too
    # the hashing encoder embeds a sentence near the skill sharing its words
    emb = [p for p in props if p.method == "embedding"]
    assert [(p.item_id, p.skill_id) for p in emb] == [("c1", "forecasting")]
    assert emb[0].evidence == "predicting future financial results"


class CountingEncoder:
    """Deterministic random unit vectors per text; records what it was asked to embed."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def embed(self, texts):
        self.calls.append(list(texts))
        out = np.stack([np.random.default_rng(sum(map(ord, t))).normal(size=16) for t in texts])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def test_embedding_is_batched_once_and_never_sees_existing_tags(tmp_path):
    cat = load_catalog(
        make_catalog(tmp_path, [("c1", "Hidden", "Nothing here names a skill.", "forecasting")])
    )
    enc = CountingEncoder()
    propose(cat, TaggingConfig(), enc)
    assert len(enc.calls) == 1
    texts = enc.calls[0]
    assert len(texts) == len(set(texts))  # unique texts only
    assert "Nothing here names a skill." in texts and "Financial Forecasting" in texts


def write_rows(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_review_round_trip_through_the_cli(tmp_path, tiny_catalog_dir, capsys):
    cat_dir = tmp_path / "cat"
    shutil.copytree(tiny_catalog_dir, cat_dir)
    courses = (cat_dir / "courses.csv").read_text()
    courses = courses.replace(
        "Learn data pipelines.", "Data engineering: build pipelines in Python and SQL with Docker."
    )
    (cat_dir / "courses.csv").write_text(courses)
    review = tmp_path / "review.csv"
    rc = tagging.main(["tag", "--catalog", str(cat_dir), "--out", str(review), "--encoder", "hashing"])
    assert rc == 0
    rows = list(csv.DictReader(open(review)))
    assert list(rows[0]) == list(tagging.REVIEW_COLUMNS)
    de1 = {r["skill_id"]: r for r in rows if r["id"] == "c-de1"}
    assert {"python", "sql", "docker", "data-engineering"} <= set(de1)
    assert de1["data-engineering"]["existing"] == "yes" and de1["data-engineering"]["accept"] == ""
    assert de1["docker"]["existing"] == "no" and de1["docker"]["accept"] == "yes"
    assert float(de1["docker"]["confidence"]) >= 0.6 and de1["docker"]["evidence"] == "Docker"
    for r in rows:  # decide: keep Python and SQL on c-de1, reject everything else
        r["accept"] = "yes" if (r["id"], r["skill_id"]) in {("c-de1", "python"), ("c-de1", "sql")} else "no"
    write_rows(review, rows)
    out = tmp_path / "tagged"
    assert tagging.main(["apply", str(review), "--catalog", str(cat_dir), "--out", str(out)]) == 0
    new = load_catalog(out)
    c = new.courses["c-de1"]
    assert set(c.skills) == {"data-engineering", "python", "sql"}
    assert "docker" not in c.skills and c.prerequisites == ()  # taught now, no longer required
    old = load_catalog(cat_dir)
    for cid, course in old.courses.items():
        if cid != "c-de1":
            assert new.courses[cid].skills == course.skills
    assert new.jobs == old.jobs
    # --hide-existing leaves out what the catalog already has
    assert (
        tagging.main(
            ["tag", "--catalog", str(out), "--out", str(review), "--no-embeddings", "--hide-existing"]
        )
        == 0
    )
    rows = list(csv.DictReader(open(review)))
    assert rows and all(r["existing"] == "no" for r in rows)
    assert not any(r["id"] == "c-de1" and r["skill_id"] in ("python", "sql") for r in rows)


def test_apply_in_place_and_job_importance(tmp_path, tiny_catalog_dir):
    cat_dir = tmp_path / "cat"
    shutil.copytree(tiny_catalog_dir, cat_dir)
    review = tmp_path / "r.csv"
    write_rows(
        review,
        [
            {"kind": "job", "id": "data-scientist", "skill_id": "Git", "accept": "Yes", "importance": ""},
            {"kind": "job", "id": "data-analyst", "skill_id": "python", "accept": "y", "importance": "0.8"},
        ],
    )
    assert tagging.main(["apply", str(review), "--catalog", str(cat_dir)]) == 0
    new = load_catalog(cat_dir)
    assert new.jobs["data-scientist"].skills["git"] == 0.5  # skill named by name; default importance
    assert new.jobs["data-analyst"].skills["python"] == 0.8
    assert not list(tmp_path.glob(".cat.*"))  # no temporary folder left behind


def test_bad_review_rows_name_the_row_and_field(tmp_path, tiny_catalog_dir, capsys):
    cat = load_catalog(tiny_catalog_dir)
    review = tmp_path / "r.csv"
    write_rows(
        review,
        [
            {"kind": "course", "id": "c-py1", "skill_id": "sql", "accept": "yes"},
            {"kind": "course", "id": "c-nope", "skill_id": "sql", "accept": "yes"},
            {"kind": "course", "id": "c-py1", "skill_id": "pythn-x", "accept": "yes"},
            {"kind": "course", "id": "c-py1", "skill_id": "sql", "accept": "maybe"},
            {"kind": "widget", "id": "c-py1", "skill_id": "sql", "accept": "yes"},
            {"kind": "course", "id": "c-nope", "skill_id": "nothing", "accept": "no"},  # rejected: ignored
        ],
    )
    with pytest.raises(CatalogError) as err:
        read_accepted(review, cat)
    probs = err.value.problems
    assert len(probs) == 4
    assert "r.csv row 3, field 'id': unknown course 'c-nope'" in probs[0]
    assert "row 4, field 'skill_id': unknown skill 'pythn-x'" in probs[1]
    assert "row 5, field 'accept': 'maybe'" in probs[2]
    assert "row 6, field 'kind'" in probs[3]
    cat_dir = tmp_path / "cat"
    shutil.copytree(tiny_catalog_dir, cat_dir)
    before = (cat_dir / "courses.csv").read_text()
    assert tagging.main(["apply", str(review), "--catalog", str(cat_dir)]) == 2
    assert "row 3" in capsys.readouterr().err
    assert (cat_dir / "courses.csv").read_text() == before  # nothing written on error
    write_rows(review, [{"kind": "course", "id": "c-py1", "skill": "sql"}])
    assert tagging.main(["apply", str(review), "--catalog", str(cat_dir)]) == 2
    assert "missing column(s) skill_id, accept" in capsys.readouterr().err
    assert tagging.main(["apply", str(tmp_path / "none.csv"), "--catalog", str(cat_dir)]) == 2
    assert tagging.main(["apply", str(review)]) == 2  # the bundled catalog is not edited in place
    assert "--out" in capsys.readouterr().err


def test_evaluate_counts_and_hidden_tag_evaluation(tiny_catalog_dir):
    gold = {("course", "a", "x"), ("course", "a", "y"), ("course", "b", "x")}
    props = [
        Proposal("course", "a", "x", 0.9, "name", "x"),
        Proposal("course", "b", "z", 0.9, "name", "z"),
        Proposal("course", "b", "x", 0.5, "embedding", "x"),
    ]
    m = evaluate(props, gold, 0.6)
    assert (m["correct"], m["proposed"], m["gold"]) == (1, 2, 3)
    assert m["precision"] == 0.5 and m["recall"] == pytest.approx(1 / 3) and m["f1"] == pytest.approx(0.4)
    assert evaluate(props, gold, 0.4)["recall"] == pytest.approx(2 / 3)
    cat = load_catalog(tiny_catalog_dir)  # tiny descriptions say "Learn <title>."
    res = evaluate_tagging(cat, TaggingConfig(embeddings=False), None, ("course",), thresholds=(0.9,))
    course = res["course"][0.6]
    assert 0.5 < course["precision"] <= 1.0 and 0.3 < course["recall"] < 1.0
    assert set(res["course"]) == {0.6, 0.9} and res["seconds"] >= 0


def test_configs_load_and_reject_unknown_keys(tmp_path):
    cfg = load_tagging_config()
    raw = yaml.safe_load((ROOT / "configs/data/tagging.yaml").read_text())
    for key, value in raw.items():
        assert getattr(cfg, key) == value
    assert load_tagging_config(None, {"threshold": 0.8}).threshold == 0.8
    bad = tmp_path / "t.yaml"
    bad.write_text("treshold: 0.5\n")
    with pytest.raises(ValueError, match=r"t\.yaml: unknown key\(s\) treshold"):
        load_tagging_config(bad)
    bad.write_text("threshold: 1.5\n")
    with pytest.raises(ValueError, match="threshold must be between 0 and 1"):
        load_tagging_config(bad)


def test_real_minilm_links_a_paraphrase_to_its_skill(tmp_path):
    from careerpath.core.embeddings import Embedder, EmbeddingsUnavailable

    try:
        enc = Embedder(cache_dir=tmp_path)
        vec = enc.embed(["write unit tests for every component", "Unit Testing", "Objection Handling"])
    except EmbeddingsUnavailable:
        pytest.skip("all-MiniLM-L6-v2 wheel not installed")
    sims = vec[1:] @ vec[0]
    assert sims[0] > 0.6 and sims[0] > sims[1] + 0.3


JOBS = [  # id, title, description, skills
    ("da", "Data Analyst", "Turns business data into reports for teams.", "sql:0.9;power-bi:0.6;excel:0.7"),
    ("jda", "Junior Data Analyst", "Prepares data and simple reports for teams.", "sql:0.8;excel:0.8"),
    ("sda", "Senior Data Analyst", "Leads analyses of business data and reports.", "sql:0.9;objections:0.5"),
    ("bia", "BI Analyst", "Builds reports on business data for teams.", "sql:0.8;power-bi:0.8;bi:0.7"),
    ("ra", "Reporting Analyst", "Prepares recurring reports from business data.", "sql:0.7;excel:0.8"),
    (
        "be",
        "Backend Developer",
        "Builds services and APIs for products.",
        "go:0.8;python:0.7;unit-testing:0.6",
    ),
    ("gd", "Go Developer", "Builds fast services for products.", "go:0.9;unit-testing:0.6;system-design:0.5"),
    ("new", "Data Analyst II", "Turns business data into reports.", "excel:0.5"),  # the job to tag
]


def make_job_catalog(tmp_path: Path) -> Path:
    d = make_catalog(tmp_path, [("c1", "SQL Basics", "Write SQL queries.", "sql")])
    with open(d / "jobs.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "alt_titles", "description", "family", "level", "skills"])
        for jid, title, desc, skills in JOBS:
            w.writerow([jid, title, "", desc, "data" if "Analyst" in title else "software", 2, skills])
    (d / "transitions.csv").write_text("from_job,to_job,weight\nda,sda,1.0\n")
    return d


def neighbour_cfg(**kw) -> TaggingConfig:
    return TaggingConfig(**{"encoder": "hashing", "neighbour_min_jobs": 3, **kw})


def test_neighbours_never_use_the_jobs_own_tags(tmp_path):
    cat = load_catalog(make_job_catalog(tmp_path))
    cfg = neighbour_cfg()
    base = propose(cat, cfg, HashingEncoder(), kinds=("job",), floor=0.0)
    # "objections" is only on sda: no other job or course has it, so sda cannot get it back
    sda = {p.skill_id: p for p in base if p.item_id == "sda"}
    assert sda["objections"].confidence < cfg.review_floor
    assert "none of" in sda["objections"].evidence
    # sda's own tags can be anything: its proposals do not change (nothing leaks)
    tags = {j.id: set(j.skills) for j in cat.jobs.values()}
    for own in (set(), {"objections", "go", "python", "system-design"}):
        other = propose(cat, cfg, HashingEncoder(), ("job",), 0.0, job_tags={**tags, "sda": own})
        assert [p for p in other if p.item_id == "sda"] == [p for p in base if p.item_id == "sda"]
    # ...while another job's tags do move it
    moved = propose(cat, cfg, HashingEncoder(), ("job",), 0.0, job_tags={**tags, "da": {"objections"}})
    assert {p.skill_id: p for p in moved if p.item_id == "sda"}["objections"].confidence > (
        sda["objections"].confidence
    )


def test_neighbour_proposals_name_their_evidence(tmp_path):
    cat = load_catalog(make_job_catalog(tmp_path))
    props = propose(cat, neighbour_cfg(), HashingEncoder(), kinds=("job",))
    new = {p.skill_id: p for p in props if p.item_id == "new"}
    assert new["sql"].confidence >= 0.6 and new["sql"].method == "neighbours"
    assert "of 8 similar jobs have it" not in new["sql"].evidence  # only 7 other tagged jobs
    assert "5 of 7 similar jobs have it: Data Analyst" in new["sql"].evidence
    assert "closest course teaching it: SQL Basics" in new["sql"].evidence and "p=" in new["sql"].evidence
    assert "go" not in new or new["go"].confidence < 0.6  # the developers' skills stay out
    sda = {p.skill_id: p for p in props if p.item_id == "sda"}
    assert "career step Data Analyst has it" in sda["power-bi"].evidence
    for p in props:
        assert 0.0 <= p.confidence <= 1.0 and p.evidence and p.method
    # too few other tagged jobs: text only, as before
    few = propose(cat, neighbour_cfg(neighbour_min_jobs=50), HashingEncoder(), kinds=("job",))
    assert not any("neighbours" in p.method for p in few)
    assert {p.skill_id for p in few if p.item_id == "new"} == set()  # nothing in its text names a skill


def test_cli_no_neighbours_flag_and_review_rows_apply(tmp_path, capsys):
    cat_dir = make_job_catalog(tmp_path)
    review = tmp_path / "r.csv"
    args = ["tag", "--catalog", str(cat_dir), "--out", str(review), "--encoder", "hashing", "--kinds", "job"]
    assert tagging.main(args) == 0
    rows = list(csv.DictReader(open(review)))
    assert list(rows[0]) == list(tagging.REVIEW_COLUMNS)
    assert any(r["method"] == "neighbours" and r["id"] == "new" and r["accept"] == "yes" for r in rows)
    out = tmp_path / "tagged"
    assert tagging.main(["apply", str(review), "--catalog", str(cat_dir), "--out", str(out)]) == 0
    assert "sql" in load_catalog(out).jobs["new"].skills
    assert tagging.main([*args, "--no-neighbours"]) == 0
    rows = list(csv.DictReader(open(review)))
    assert rows and not any("neighbours" in r["method"] for r in rows)


def test_neighbour_model_config_is_checked(tmp_path):
    cfg = load_tagging_config()
    assert set(cfg.neighbour_model) == {"intercept", *tagging.NEIGHBOUR_FEATURES}
    bad = tmp_path / "t.yaml"
    bad.write_text("neighbour_model: {votes: 1.0}\n")
    with pytest.raises(ValueError, match="neighbour_model has unknown key"):
        load_tagging_config(bad)
    bad.write_text("neighbour_cut: 1.0\n")
    with pytest.raises(ValueError, match="neighbour_cut"):
        load_tagging_config(bad)
