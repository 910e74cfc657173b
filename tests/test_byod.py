"""Bring your own data from the start: a catalog of titles and descriptions with no skill tags goes
through data validate -> data tag -> review -> apply-tags -> data build -> a tiny training."""

import csv
import json
from pathlib import Path

import pytest

from careerpath.app import cli
from careerpath.core.catalog import CatalogError, load_catalog

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "assets" / "tiny_catalog"


def _write(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


@pytest.fixture
def untagged(tmp_path) -> tuple[Path, dict]:
    """The tiny catalog as a user would bring it: a skill list, courses and jobs with titles and
    descriptions (written from what they teach / need, as real ones are) and no skills column."""
    gold = load_catalog(TINY)
    name = {s.id: s.name for s in gold.skills.values()}
    out = tmp_path / "my_catalog"
    out.mkdir()
    (out / "skills.csv").write_bytes((TINY / "skills.csv").read_bytes())
    (out / "transitions.csv").write_bytes((TINY / "transitions.csv").read_bytes())
    courses = [
        {
            "id": c.id,
            "title": c.title,
            "description": f"A hands-on course: you will practise {', '.join(name[s] for s in c.skills)}.",
            "level": c.level,
            "hours": c.hours,
            "provider": c.provider,
        }
        for c in gold.courses.values()
    ]
    jobs = [
        {
            "id": j.id,
            "title": j.title,
            "description": f"Works daily with {', '.join(name[s] for s in j.skills)}.",
            "family": j.family,
            "level": j.level,
        }
        for j in gold.jobs.values()
    ]
    _write(out / "courses.csv", courses)
    _write(out / "jobs.csv", jobs)
    truth = {("course", c.id, s) for c in gold.courses.values() for s in c.skills}
    truth |= {("job", j.id, s) for j in gold.jobs.values() for s in j.skills}
    return out, truth


def test_untagged_catalog_to_a_trained_model(untagged, tmp_path, capsys):
    catalog_dir, truth = untagged
    # validate: readable, but it says the catalog must be tagged before a build
    assert cli.main(["data", "validate", "--catalog", str(catalog_dir)]) == 0
    out = capsys.readouterr().out
    assert "26 course(s) and 9 job(s) have no skills yet" in out and "careerpath data tag" in out
    assert cli.main(["data", "validate", "--catalog", str(catalog_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ready_for_build"] is False and len(report["untagged"]["jobs"]) == 9
    # a build refuses it, says how to tag, and writes nothing
    data = tmp_path / "data"
    assert cli.main(["data", "build", "--catalog", str(catalog_dir), "--out", str(data), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "careerpath data tag" in err and "apply-tags" in err and not data.exists()

    # tag (word matches only: no model download), then a person reviews: here, one who knows the truth
    review = tmp_path / "review.csv"
    assert (
        cli.main(["data", "tag", "--catalog", str(catalog_dir), "--out", str(review), "--no-embeddings"]) == 0
    )
    with open(review, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {(r["kind"], r["id"]) for r in rows} >= {("course", c) for c in ("c-py1", "c-sql1")}
    proposed = {(r["kind"], r["id"], r["skill_id"]) for r in rows}
    assert len(proposed & truth) >= 0.8 * len(truth), "the tagger should find most tags in these texts"
    for r in rows:
        r["accept"] = "yes" if (r["kind"], r["id"], r["skill_id"]) in truth else "no"
    _write(review, rows)
    assert cli.main(["data", "apply-tags", str(review), "--catalog", str(catalog_dir)]) == 0
    capsys.readouterr()
    tagged = load_catalog(catalog_dir, allow_untagged=True)
    if tagged.untagged["courses"] or tagged.untagged["jobs"]:
        pytest.fail(f"still untagged after review: {tagged.untagged}")
    assert cli.main(["data", "validate", "--catalog", str(catalog_dir)]) == 0
    assert "catalog OK" in capsys.readouterr().out

    # build, and a tiny training on it
    config = ROOT / "configs" / "data" / "tiny.yaml"
    code = cli.main(
        [
            "data",
            "build",
            "--config",
            str(config),
            "--catalog",
            str(catalog_dir),
            "--out",
            str(data),
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert (data / "train.jsonl").stat().st_size > 0
    from careerpath.core.config import load_config
    from careerpath.serving.recommend import Recommender
    from careerpath.training import training

    model = tmp_path / "model"
    args = [
        "--config",
        str(ROOT / "configs" / "tiny_t5.yaml"),
        "--data.data-dir",
        str(data),
        "--train.output-dir",
        str(model),
    ]
    args += [
        "--model.d-model",
        "32",
        "--model.num-layers",
        "1",
        "--model.num-heads",
        "2",
        "--model.d-ff",
        "64",
        "--model.vocab-size",
        "600",
    ]
    args += [
        "--train.max-steps",
        "2",
        "--train.batch-size",
        "8",
        "--data.max-eval-examples",
        "2",
        "--generation.max-new-tokens",
        "8",
    ]
    args += ["--train.num-threads", "1", "--train.checkpoint-every", "0"]
    training.run_training(load_config(args))
    rec = Recommender.from_pretrained(model, use_embeddings=False)
    result = rec.recommend(rec.resolve({"job": "Data Analyst"}, goal="Data Scientist"), top_k=3)
    assert len(result["next_courses"]) == 3 and all(c["id"] in tagged.courses for c in result["next_courses"])


def test_build_names_every_untagged_row_and_the_way_out(untagged):
    catalog_dir, _ = untagged
    with pytest.raises(CatalogError) as e:
        load_catalog(catalog_dir)
    assert "careerpath data tag" in e.value.problems[0] and "skills" in e.value.problems[0]
