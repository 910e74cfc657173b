import csv
import json
import shutil

import pytest

from careerpath.app.cli import main
from careerpath.core.catalog import CatalogError, load_catalog


def _copy(src, tmp_path):
    dst = tmp_path / "cat"
    shutil.copytree(src, dst)
    return dst


def _edit_csv(path, fn):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0])
    rows, fields = fn(rows, fields)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def test_tiny_catalog_loads(tiny_catalog_dir):
    cat = load_catalog(tiny_catalog_dir)
    assert cat.summary()["jobs"] == 9
    assert cat.courses["c-ml1"].prerequisites == ("python", "statistics")
    assert cat.jobs["data-analyst"].skills["sql"] == 0.9


def test_unknown_skill_is_refused_naming_file_row_field(tiny_catalog_dir, tmp_path):
    d = _copy(tiny_catalog_dir, tmp_path)

    def bad(rows, fields):
        rows[2]["skills"] = "Pythn;quantum-basket-weaving"
        return rows, fields

    _edit_csv(d / "courses.csv", bad)
    with pytest.raises(CatalogError) as e:
        load_catalog(d)
    msg = str(e.value)
    assert "courses.csv row 4, field 'skills'" in msg and "quantum-basket-weaving" in msg
    assert "Pythn" not in msg  # a near miss of a known skill is standardised, not refused


def test_duplicate_id_and_missing_column_and_bad_number(tiny_catalog_dir, tmp_path):
    d = _copy(tiny_catalog_dir, tmp_path)
    _edit_csv(d / "jobs.csv", lambda rows, f: (rows + [dict(rows[0], title="Another")], f))
    _edit_csv(d / "courses.csv", lambda rows, f: ([dict(rows[0], hours="ten")] + rows[1:], f))
    with pytest.raises(CatalogError) as e:
        load_catalog(d)
    text = str(e.value)
    assert "jobs.csv row 11, field 'id': duplicate id 'junior-data-analyst'" in text
    assert "courses.csv row 2, field 'hours': 'ten' is not a number" in text

    _edit_csv(
        d / "skills.csv",
        lambda rows, f: (
            [{k: v for k, v in r.items() if k != "name"} for r in rows],
            ["id", "aliases", "category"],
        ),
    )
    with pytest.raises(CatalogError, match="skills.csv: missing column"):
        load_catalog(d)


def test_transition_to_unknown_job(tiny_catalog_dir, tmp_path):
    d = _copy(tiny_catalog_dir, tmp_path)
    _edit_csv(
        d / "transitions.csv",
        lambda rows, f: (rows + [{"from_job": "data-analyst", "to_job": "astronaut", "weight": "1"}], f),
    )
    with pytest.raises(CatalogError, match="transitions.csv row 8, field 'to_job': unknown job 'astronaut'"):
        load_catalog(d)


def test_cli_refuses_invalid_catalog_and_writes_nothing(tiny_catalog_dir, tmp_path, capsys):
    d = _copy(tiny_catalog_dir, tmp_path)
    _edit_csv(d / "jobs.csv", lambda rows, f: ([dict(rows[0], skills="telepathy:0.9")] + rows[1:], f))
    out = tmp_path / "ds"
    code = main(["data", "build", "--catalog", str(d), "--out", str(out), "--users", "5", "--quiet"])
    assert code != 0
    assert "jobs.csv row 2, field 'skills': unknown skill 'telepathy'" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".ds.tmp-*"))


def test_json_and_jsonl_catalogs_read_like_csv(tiny_catalog_dir, tmp_path):
    cat = load_catalog(tiny_catalog_dir)
    d = tmp_path / "jsoncat"
    d.mkdir()
    (d / "skills.json").write_text(
        json.dumps(
            [
                {"id": s.id, "name": s.name, "aliases": list(s.aliases), "category": s.category}
                for s in cat.skills.values()
            ]
        )
    )
    with open(d / "courses.jsonl", "w") as f:
        for c in cat.courses.values():
            f.write(
                json.dumps({**c.__dict__, "skills": list(c.skills), "prerequisites": list(c.prerequisites)})
                + "\n"
            )
    (d / "jobs.json").write_text(
        json.dumps(
            {
                "jobs": [
                    {**j.__dict__, "alt_titles": list(j.alt_titles), "skills": j.skills}
                    for j in cat.jobs.values()
                ]
            }
        )
    )
    again = load_catalog(d)
    assert again.courses == cat.courses and again.jobs == cat.jobs and again.skills == cat.skills


def test_saved_catalog_reads_back_identically(tiny_catalog_dir, tmp_path):
    cat = load_catalog(tiny_catalog_dir)
    cat.save(tmp_path / "copy")
    again = load_catalog(tmp_path / "copy")
    assert again.courses == cat.courses and again.jobs == cat.jobs and again.transitions == cat.transitions


def test_bundled_catalog_sizes():
    cat = load_catalog()
    s = cat.summary()
    assert s["jobs"] >= 60 and s["families"] >= 6 and s["skills"] >= 250 and s["courses"] >= 300
    assert all(1 <= len(c.skills) <= 6 for c in cat.courses.values())
    assert all(c.description for c in cat.courses.values())
    assert not [m for m in cat.merges if m.kind == "skill-id"], (
        "the bundled catalog has near-duplicate skills"
    )
