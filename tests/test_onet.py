"""O*NET importer: small fixtures written here in the official formats (.xlsx, .txt, zip), and the real
release from ../shared/data when it is there."""

import json
import zipfile
from pathlib import Path

import openpyxl
import pytest
import yaml

from careerpath.core.catalog import load_catalog
from careerpath.core.progression import Progression
from careerpath.importers import onet
from tests.conftest import SHARED_DATA

CODE = "O*NET-SOC Code"
NURSE, MANAGER, DEV, OTHER = "29-1141.00", "11-9111.00", "15-1252.00", "11-9199.00"
TITLES = {
    NURSE: "Registered Nurses",
    MANAGER: "Medical and Health Services Managers",
    DEV: "Software Developers",
    OTHER: "Managers, All Other",  # comma: must be sanitised; no ratings: SOC-group fallback
}
RATED = {  # code -> element -> (IM, LV)
    NURSE: {"Active Listening": (4.0, 4.5), "Science": (3.6, 3.8), "Programming": (1.2, 0.3)},
    MANAGER: {
        "Active Listening": (4.1, 4.6),
        "Management of Personnel Resources": (4.0, 4.4),
        "Science": (2.0, 1.0),
    },
    DEV: {"Programming": (4.5, 5.5), "Active Listening": (3.6, 3.9), "Science": (2.5, 2.0)},
}
SKILL_IDS = {
    "Active Listening": "2.A.1.b",
    "Science": "2.A.1.f",
    "Programming": "2.B.3.e",
    "Management of Personnel Resources": "2.B.5.d",
}
KNOWLEDGE = {
    NURSE: {"Medicine and Dentistry": (4.7, 5.5), "Mathematics": (3.0, 3.0)},
    MANAGER: {"Medicine and Dentistry": (3.9, 4.5), "Administration and Management": (4.5, 5.0)},
    DEV: {"Mathematics": (3.8, 4.3), "Computers and Electronics": (4.8, 5.6)},
}
KNOWLEDGE_IDS = {
    "Medicine and Dentistry": "2.C.5.b",
    "Mathematics": "2.C.4.a",
    "Administration and Management": "2.C.1.a",
    "Computers and Electronics": "2.C.3.a",
}


def _tables() -> dict[str, list[list]]:
    rating_cols = [
        CODE,
        "Title",
        "Element ID",
        "Element Name",
        "Scale ID",
        "Scale Name",
        "Data Value",
        "N",
        "Standard Error",
        "Lower CI Bound",
        "Upper CI Bound",
        "Recommend Suppress",
        "Not Relevant",
        "Date",
        "Domain Source",
    ]

    def ratings(table, ids):
        rows = [rating_cols]
        for code, elems in table.items():
            for name, (im, lv) in elems.items():
                for scale, value in (("IM", im), ("LV", lv)):
                    rows.append(
                        [
                            code,
                            TITLES[code],
                            ids[name],
                            name,
                            scale,
                            scale,
                            value,
                            8,
                            0.1,
                            None,
                            None,
                            "N",
                            None if scale == "IM" else "N",
                            "08/2023",
                            "Analyst",
                        ]
                    )
        return rows

    return {
        "Occupation Data": [[CODE, "Title", "Description"]]
        + [
            [c, t, f"What {t.lower()} do, in one sentence; with separators | > too."]
            for c, t in TITLES.items()
        ],
        "Skills": ratings(RATED, SKILL_IDS),
        "Knowledge": ratings(KNOWLEDGE, KNOWLEDGE_IDS),
        "Job Zones": [
            [CODE, "Title", "Job Zone", "Date", "Domain Source"],
            [NURSE, TITLES[NURSE], 3, "08/2023", "Analyst"],
            [MANAGER, TITLES[MANAGER], 4, "08/2023", "Analyst"],
            [DEV, TITLES[DEV], 4, "08/2023", "Analyst"],
        ],
        "Alternate Titles": [
            [CODE, "Title", "Alternate Title", "Short Title", "Source(s)"],
            [NURSE, TITLES[NURSE], "Staff Nurse", None, "08"],
            [NURSE, TITLES[NURSE], "Charge Nurse; RN", None, "08"],
            [MANAGER, TITLES[MANAGER], "Nurse Manager", None, "10"],
            [DEV, TITLES[DEV], "Programmer, Applications", "Programmer", "10"],
        ],
        "Technology Skills": [
            [CODE, "Title", "Example", "Commodity Code", "Commodity Title", "Hot Technology", "In Demand"],
            [DEV, TITLES[DEV], "Python", 43232403, "Development environment software", "Y", "Y"],
            [DEV, TITLES[DEV], "Obscure Tool", 43232403, "Development environment software", "N", "N"],
            [NURSE, TITLES[NURSE], "Microsoft Excel", 43232110, "Spreadsheet software", "Y", "N"],
            [MANAGER, TITLES[MANAGER], "Microsoft Excel", 43232110, "Spreadsheet software", "Y", "Y"],
        ],
        "Related Occupations": [
            [CODE, "Title", "Related O*NET-SOC Code", "Related Title", "Relatedness Tier", "Index"],
            [NURSE, TITLES[NURSE], MANAGER, TITLES[MANAGER], "Primary-Short", 1],
            [NURSE, TITLES[NURSE], DEV, TITLES[DEV], "Supplemental", 11],
            [MANAGER, TITLES[MANAGER], NURSE, TITLES[NURSE], "Primary-Long", 6],
            [DEV, TITLES[DEV], OTHER, TITLES[OTHER], "Primary-Short", 2],
        ],
    }


def write_release(folder: Path, fmt: str, drop: str | None = None, drop_column: tuple | None = None) -> Path:
    """An O*NET release of a few rows in the published layout (``fmt``: xlsx or txt)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in _tables().items():
        if name == drop:
            continue
        if drop_column and drop_column[0] == name:
            i = rows[0].index(drop_column[1])
            rows = [r[:i] + r[i + 1 :] for r in rows]
        if fmt == "xlsx":
            wb = openpyxl.Workbook()
            ws = wb.active
            ws.title = name[:31]
            for r in rows:
                ws.append(r)
            wb.save(folder / f"{name}.xlsx")
        else:
            lines = ["\t".join("" if v is None else str(v) for v in r) for r in rows]
            (folder / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _zip(folder: Path, out: Path, inner: str) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, f"{inner}/{p.name}")
    return out


def test_import_xlsx_rules(tmp_path):
    src = write_release(tmp_path / "db_excel", "xlsx")
    # three occupations list technology here: max_tech_share 0.5 keeps an example only one lists
    assert onet.main([str(src), "--out", str(tmp_path / "cat"), "--set", "max_tech_share=0.5"]) == 0
    cat = load_catalog(tmp_path / "cat")
    assert set(cat.jobs) == {NURSE, MANAGER, DEV, OTHER}
    nurse, dev, other = cat.jobs[NURSE], cat.jobs[DEV], cat.jobs[OTHER]
    # titles without separators, alt titles sanitised, families and levels from SOC / Job Zones
    assert other.title == "Managers All Other"
    assert "Charge Nurse - RN" in nurse.alt_titles and "Programmer Applications" in dev.alt_titles
    assert nurse.family == "Healthcare Practitioners and Technical Occupations"
    assert cat.jobs[MANAGER].family == "Management Occupations"
    assert (nurse.level, cat.jobs[MANAGER].level) == (3, 4)
    assert other.level == 4  # no job zone: the median of its SOC group (11-9111 has zone 4)
    # IM >= 3.5 kept, importance = 0.5 (IM-1)/4 + 0.5 LV/7; "Mathematics" knowledge below threshold;
    # Active Listening passes for all three rated occupations: generic, weighted by 0.5
    assert nurse.skills["sk-2.A.1.b"] == pytest.approx(0.5 * (0.5 * 3 / 4 + 0.5 * 4.5 / 7), abs=1e-4)
    assert dev.skills["kn-2.C.3.a"] == pytest.approx(0.5 * 3.8 / 4 + 0.5 * 5.6 / 7, abs=1e-4)  # one of three
    assert "sk-2.B.3.e" not in nurse.skills and "kn-2.C.4.a" not in nurse.skills
    assert "kn-2.C.5.b" in nurse.skills and "sk-2.B.3.e" in dev.skills
    # unrated occupation: mean ratings of its SOC group (11-9111) as fallback
    assert "sk-2.B.5.d" in other.skills and "kn-2.C.1.a" in other.skills
    # technology skills: only Hot/In Demand kept; demand weights
    assert "tech-obscure-tool" not in cat.skills
    assert dev.skills["tech-python"] == pytest.approx(0.45 + 0.1 + 0.15)  # below the top elements
    assert cat.skills["tech-python"].demand == pytest.approx(1.0)
    # Microsoft Excel is general office software: one low-weight "Office software" skill
    assert "tech-microsoft-excel" not in cat.skills
    assert nurse.skills["tech-office-software"] == cat.jobs[MANAGER].skills["tech-office-software"] == 0.25
    assert "tech-office-software" not in dev.skills
    assert dev.demand == pytest.approx((0.5 + 0.5) / 2)  # Hot share 1/2, In Demand share 1/2
    report = yaml.safe_load((tmp_path / "cat" / "import_report.yaml").read_text())
    assert "Active Listening" in report["generic_elements_weighted_down"]
    assert "Computers and Electronics" not in report["generic_elements_weighted_down"]
    assert report["office_software"]["jobs"] == 2 and report["office_software"]["examples_collapsed"] == [
        "Microsoft Excel"
    ]
    assert report["skills_per_job"]["all"]["max"] == max(len(j.skills) for j in cat.jobs.values())
    # Skills "Mathematics" vs Knowledge "Mathematics" never collide (no near-duplicate merge)
    names = [s.name for s in cat.skills.values()]
    assert len(names) == len(set(names)) and not cat.merges
    # transitions weighted by tier then index
    w = {(t.from_job, t.to_job): t.weight for t in cat.transitions}
    assert w[(NURSE, MANAGER)] == 1.0 and w[(MANAGER, NURSE)] == pytest.approx(0.6 * (1 - 0.02 * 5))
    assert w[(NURSE, MANAGER)] > w[(MANAGER, NURSE)] > w[(NURSE, DEV)]
    # every required skill is taught by some course; generated ones are marked
    taught = {s for c in cat.courses.values() for s in c.skills}
    assert {s for j in cat.jobs.values() for s in j.skills} <= taught
    gen = [c for c in cat.courses.values() if c.provider == onet.GENERATED_PROVIDER]
    assert gen and all(c.title.startswith("Foundations of ") for c in gen)
    # bundled Python courses re-tagged to the imported Python skill
    assert any(
        "tech-python" in c.skills and c.provider != onet.GENERATED_PROVIDER for c in cat.courses.values()
    )
    assert Progression(cat).next_jobs[NURSE][0][0] == MANAGER


def test_txt_and_zip_give_the_same_catalog(tmp_path):
    outs = []
    xlsx = write_release(tmp_path / "x", "xlsx")
    txt = write_release(tmp_path / "t", "txt")
    for i, src in enumerate(
        [
            xlsx,
            txt,
            _zip(txt, tmp_path / "t.zip", "db_29_3_text"),
            _zip(xlsx, tmp_path / "x.zip", "db_29_3_excel"),
        ]
    ):
        assert onet.main([str(src), "--out", str(tmp_path / f"c{i}")]) == 0
        outs.append(
            {
                n: (tmp_path / f"c{i}" / f"{n}.csv").read_bytes()
                for n in ("jobs", "skills", "transitions", "courses")
            }
        )
    assert all(o == outs[0] for o in outs[1:])


def test_config_overrides(tmp_path):
    src = write_release(tmp_path / "x", "txt")
    assert (
        onet.main(
            [str(src), "--out", str(tmp_path / "c"), "--set", "tech=all", "--set", "min_importance=1"]
            + ["--set", "max_tech_share=1", "--set", "office_weight=0"]
        )
        == 0
    )
    cat = load_catalog(tmp_path / "c")
    assert "tech-obscure-tool" in cat.skills and "sk-2.B.3.e" in cat.jobs[NURSE].skills
    assert "tech-office-software" not in cat.skills  # office_weight 0: office software dropped


@pytest.mark.parametrize("fmt", ["xlsx", "txt"])
def test_missing_file_and_column_errors(tmp_path, capsys, fmt):
    src = write_release(tmp_path / "a", fmt, drop="Skills")
    assert onet.main([str(src), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "'Skills.xlsx' or 'Skills.txt'" in err
    src = write_release(tmp_path / "b", fmt, drop_column=("Related Occupations", "Relatedness Tier"))
    assert onet.main([str(src), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "Related Occupations" in err and "'Relatedness Tier'" in err
    if fmt == "xlsx":
        assert "sheet 'Related Occupations'" in err
    assert not (tmp_path / "c").exists()
    assert onet.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "c")]) == 2
    assert "not found" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("min_importanse: 3\n")
    assert onet.main([str(src), "--out", str(tmp_path / "c"), "--config", str(bad)]) == 2
    assert "unknown key(s) min_importanse" in capsys.readouterr().err


def test_imported_catalog_builds_a_dataset(tmp_path):
    from careerpath.data.build import build_dataset, load_data_config

    src = write_release(tmp_path / "x", "xlsx")
    assert onet.main([str(src), "--out", str(tmp_path / "cat")]) == 0
    cfg = load_data_config(Path("configs/data/onet.yaml"), {"catalog": str(tmp_path / "cat"), "users": 30})
    stats = build_dataset(cfg, tmp_path / "data", progress=False)
    assert stats["catalog"]["jobs"] == 4 and sum(stats["examples"].values()) > 0


def test_sanitise_and_unique_names():
    assert (
        onet.sanitise_name("Farmworkers, Crop; Nursery | A > B \\ C")
        == "Farmworkers Crop - Nursery / A - B / C"
    )
    u = onet.UniqueNames()
    assert u.take("Nurse", "1") == "Nurse" and u.take("nurse", "2") == "nurse (2)"


ONET_REAL = SHARED_DATA / "onet_29_3"


@pytest.fixture(scope="module")
def real_onet(tmp_path_factory):
    if not ONET_REAL.exists():
        pytest.skip(f"O*NET 29.3 release not found at {ONET_REAL} (../shared/data)")
    out = tmp_path_factory.mktemp("real") / "onet"
    assert onet.main([str(ONET_REAL), "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_real_onet_release(real_onet):
    cat = load_catalog(real_onet)
    assert len(cat.jobs) == 1016 and len(cat.transitions) == 18460
    assert len({j.family for j in cat.jobs.values()}) == 23
    assert all(1 <= j.level <= 5 and j.skills for j in cat.jobs.values())
    assert not cat.merges
    nurse = cat.job_by_title["Registered Nurses"]
    manager = cat.job_by_title["Medical and Health Services Managers"]
    assert cat.job_index.resolve("Staff Nurse")[0] == nurse.id
    prog = Progression(cat, n_next=10)  # n_next_jobs of configs/data/onet.yaml
    assert prog.distances_to(manager.id).get(nurse.id, 99) <= 3  # a real pathway exists
    taught = {s for c in cat.courses.values() for s in c.skills}
    assert {s for j in cat.jobs.values() for s in j.skills} <= taught
    assert any(s.demand > 0 for s in cat.skills.values()) and any(j.demand > 0 for j in cat.jobs.values())


@pytest.mark.slow
def test_nurse_to_health_services_manager_end_to_end(real_onet, tmp_path, capsys):
    """The issue's example on the real release: build, train (a few steps), recommend. A registered
    nurse who names no skills is taken to hold a nurse's skills, and gets a pathway of real courses
    and occupations that reaches the goal within 1.2x the shortest plan's hours, with no office
    software on the way."""
    from careerpath.app import cli
    from careerpath.core.config import load_config
    from careerpath.serving.recommend import Recommender
    from careerpath.training import training
    from tests.conftest import ROOT, TINY_MODEL_ARGS

    data = tmp_path / "data"
    argv = ["data", "build", "--config", "configs/data/onet.yaml", "--catalog", str(real_onet)]
    assert cli.main([*argv, "--users", "200", "--out", str(data), "--quiet"]) == 0
    cfg = load_config(
        ["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--data.data-dir", str(data)]
        + ["--train.output-dir", str(tmp_path / "model"), *TINY_MODEL_ARGS]
    )
    model = training.run_training(cfg)
    rec = Recommender.from_pretrained(model, use_embeddings=False)
    cat = rec.catalog
    prof = rec.resolve({"job": "Registered Nurses"}, goal="Medical and Health Services Managers")
    nurse, manager = (
        cat.job_by_title["Registered Nurses"],
        cat.job_by_title["Medical and Health Services Managers"],
    )
    assert prof.skills_assumed and set(prof.skills) == set(nurse.skills)
    path = rec.pathway(prof)
    assert path.reached, path.note
    assert path.steps[-1].kind == "job" and path.steps[-1].id == manager.id
    assert path.hours_ratio is not None and path.hours_ratio <= 1.2
    assert not any(x in s.title for s in path.steps for x in ("VBA", "Outlook", "Acrobat", "Office"))
    for s in path.steps:
        assert s.id in (cat.courses if s.kind == "course" else cat.jobs)
    assert path.steps[-1].goal_coverage >= rec.move_threshold - 1e-3
    # the same through the command line, which says the skills were assumed
    code = cli.main(
        ["recommend", "--model", str(model), "--job", "Registered Nurses"]
        + ["--goal", "Medical and Health Services Managers", "--no-embeddings"]
    )
    out = capsys.readouterr().out
    assert (
        code == 0 and "assumed from the job" in out and "move to Medical and Health Services Managers" in out
    )
    # without the assumption the person starts from nothing, and the profile says so
    bare = Recommender.from_pretrained(model, use_embeddings=False, assume_job_skills=False)
    assert bare.resolve({"job": "Registered Nurses"}).skills == []


def test_data_build_with_source_imports_then_builds(tmp_path, capsys):
    from careerpath.app import cli

    src = write_release(tmp_path / "x", "txt")
    cat, data = tmp_path / "cat", tmp_path / "data"
    argv = ["data", "build", "--config", "configs/data/onet.yaml", "--catalog", str(cat), "--users", "30"]
    assert cli.main([*argv, "--source", str(src), "--out", str(data), "--quiet"]) == 0
    imported = load_catalog(cat)  # the release was imported into --catalog, then built from
    assert {TITLES[c] for c in (NURSE, MANAGER, DEV)} <= {j.title for j in imported.jobs.values()}
    rows = [json.loads(x) for x in (data / "train.jsonl").read_text().splitlines()]
    assert rows and {r["job_id"] for r in rows} <= set(imported.jobs)
    assert cli.main([*argv, "--source", str(tmp_path / "nowhere"), "--out", str(data), "--quiet"]) == 2
    assert "error:" in capsys.readouterr().err
