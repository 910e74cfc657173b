"""ESCO importer: small fixtures written here in the official CSV layout (zips and extracted folders),
and the real download from ../shared/data when it is there."""

import csv
import io
import zipfile
from pathlib import Path

import pytest
import yaml

from careerpath.core.catalog import load_catalog
from careerpath.importers import esco
from tests.conftest import SHARED_DATA

OCC = "http://data.europa.eu/esco/occupation/"
SKILL = "http://data.europa.eu/esco/skill/"
OCCUPATIONS = [  # uuid, isco, label, alt labels
    ("nurse-1", "2221", "nurse responsible for general care", "staff nurse\nregistered nurse"),
    ("nurse-2", "2221", "specialist nurse", "clinical nurse specialist"),
    ("manager-1", "1342", "healthcare institution manager", "health services manager\nhospital manager"),
    ("aide-1", "5321", "healthcare assistant", "nursing aide"),
    ("dev-1", "2512", "software developer", "programmer, applications"),
]
SKILLS = [  # uuid, type, label
    ("care", "skill/competence", "provide nursing care"),
    ("assess", "skill/competence", "assess patient health"),
    ("lead", "skill/competence", "lead health services teams"),
    ("budget", "skill/competence", "manage budgets"),
    ("python", "knowledge", "Python (computer programming)"),
    ("jp", "skill/competence", "understand written Japanese"),
    ("jv", "skill/competence", "understand written Javanese"),
    ("hygiene", "skill/competence", "apply hygiene standards"),
]
RELATIONS = [  # occupation, essential skills, optional skills
    ("nurse-1", ["care", "assess", "hygiene"], ["jp"]),
    ("nurse-2", ["care", "assess", "hygiene", "lead"], []),
    ("manager-1", ["lead", "budget", "assess"], ["jv"]),
    ("aide-1", ["care", "hygiene"], []),
    ("dev-1", ["python"], ["budget"]),
]


def _csv(header, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _files(drop_column: str | None = None) -> dict[str, dict[str, str]]:
    occ_header = [
        "conceptType",
        "conceptUri",
        "iscoGroup",
        "preferredLabel",
        "altLabels",
        "hiddenLabels",
        "status",
        "modifiedDate",
        "regulatedProfessionNote",
        "scopeNote",
        "definition",
        "inScheme",
        "description",
        "code",
    ]
    occ_rows = [
        [
            "Occupation",
            OCC + u,
            isco,
            label,
            alts,
            "",
            "released",
            "",
            "",
            "",
            "",
            "",
            f"{label.capitalize()}s do things, carefully.",
            f"{isco}.1",
        ]
        for u, isco, label, alts in OCCUPATIONS
    ]
    if drop_column:
        i = occ_header.index(drop_column)
        occ_header = occ_header[:i] + occ_header[i + 1 :]
        occ_rows = [r[:i] + r[i + 1 :] for r in occ_rows]
    skill_rows = [
        [
            "KnowledgeSkillCompetence",
            SKILL + u,
            t,
            "cross-sector",
            label,
            label.lower(),
            "",
            "released",
            "",
            "",
            "",
            "",
            f"About {label}.",
        ]
        for u, t, label in SKILLS
    ]
    isco = [
        ["ISCOGroup", f"http://data.europa.eu/esco/isco/C{c}", c, name, "released", "", "", ""]
        for c, name in [
            ("1", "Managers"),
            ("2", "Professionals"),
            ("5", "Service and sales workers"),
            ("22", "Health professionals"),
        ]
    ]
    rel = [
        [OCC + o, kind, "skill/competence", SKILL + s]
        for o, ess, opt in RELATIONS
        for kind, ids in (("essential", ess), ("optional", opt))
        for s in ids
    ]
    return {
        "classification": {
            "occupations_en.csv": _csv(occ_header, occ_rows),
            "skills_en.csv": _csv(
                [
                    "conceptType",
                    "conceptUri",
                    "skillType",
                    "reuseLevel",
                    "preferredLabel",
                    "altLabels",
                    "hiddenLabels",
                    "status",
                    "modifiedDate",
                    "scopeNote",
                    "definition",
                    "inScheme",
                    "description",
                ],
                skill_rows,
            ),
            "ISCOGroups_en.csv": _csv(
                [
                    "conceptType",
                    "conceptUri",
                    "code",
                    "preferredLabel",
                    "status",
                    "altLabels",
                    "inScheme",
                    "description",
                ],
                isco,
            ),
        },
        "relations": {
            "occupationSkillRelations.csv": _csv(
                ["occupationUri", "relationType", "skillType", "skillUri"], rel
            )
        },
    }


def write_zips(folder: Path, drop: str | None = None, drop_column: str | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for part, files in _files(drop_column).items():
        path = folder / f"esco_v1.1.1_{part}_en_csv.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for name, text in files.items():
                if name != drop:
                    zf.writestr(name, text)
        out.append(path)
    return out


def test_import_zips_rules(tmp_path):
    zips = write_zips(tmp_path / "dl")
    assert esco.main([*map(str, zips), "--out", str(tmp_path / "cat")]) == 0
    cat = load_catalog(tmp_path / "cat")
    assert len(cat.jobs) == 5 and len(cat.skills) == len(SKILLS)
    nurse, manager, aide = cat.jobs["nurse-1"], cat.jobs["manager-1"], cat.jobs["aide-1"]
    assert nurse.title == "nurse responsible for general care" and "registered nurse" in nurse.alt_titles
    assert "programmer applications" in cat.jobs["dev-1"].alt_titles
    assert (nurse.family, manager.family, aide.family) == (
        "Professionals",
        "Managers",
        "Service and sales workers",
    )
    assert (aide.level, nurse.level, manager.level) == (2, 4, 5)
    assert nurse.skills == {"care": 1.0, "assess": 1.0, "hygiene": 1.0, "jp": 0.5}
    # Japanese / Javanese stay two skills (the catalog loader would merge them as near-duplicates)
    assert not cat.merges and cat.skills["jp"].name != cat.skills["jv"].name
    # derived transitions: Jaccard of essential skills, never to a lower level
    w = {(t.from_job, t.to_job): t.weight for t in cat.transitions}
    assert w[("nurse-1", "nurse-2")] == pytest.approx(3 / 4)
    assert w[("nurse-1", "manager-1")] == pytest.approx(1 / 5)  # across ISCO groups, up a level
    assert w[("aide-1", "nurse-1")] == pytest.approx(2 / 3, abs=1e-4)
    assert ("nurse-1", "aide-1") not in w and ("manager-1", "nurse-1") not in w  # no moves down
    assert not any("dev-1" in pair for pair in w)  # no shared essential skill
    taught = {s for c in cat.courses.values() for s in c.skills}
    assert {s for j in cat.jobs.values() for s in j.skills} <= taught
    titles = {c.title for c in cat.courses.values()}
    assert "Learn to provide nursing care" in titles
    # the bundled Python courses are re-tagged to ESCO's "Python (computer programming)"
    assert any("python" in c.skills and c.provider != "careerpath-generated" for c in cat.courses.values())


def test_essential_skills_before_optional_ones(tmp_path):
    zips = write_zips(tmp_path / "dl")
    assert esco.main([*map(str, zips), "--out", str(tmp_path / "cat"), "--set", "max_skills_per_job=3"]) == 0
    cat = load_catalog(tmp_path / "cat")
    # the nurse's three essential skills stay, its optional one goes
    assert cat.jobs["nurse-1"].skills == {"care": 1.0, "assess": 1.0, "hygiene": 1.0}
    report = yaml.safe_load((tmp_path / "cat" / "import_report.yaml").read_text())
    assert report["optional_relations_dropped"] >= 1
    for job in cat.jobs.values():  # weight 1.0: essential, 0.5: optional
        essential = sum(w == 1.0 for w in job.skills.values())
        assert len(job.skills) <= max(3, essential) and (len(job.skills) <= 3 or essential == len(job.skills))


def test_extracted_folders_give_the_same_catalog(tmp_path):
    zips = write_zips(tmp_path / "dl")
    for z in zips:
        zipfile.ZipFile(z).extractall(tmp_path / "extracted" / z.stem)
    assert esco.main([str(tmp_path / "dl"), "--out", str(tmp_path / "a")]) == 0
    assert esco.main([str(tmp_path / "extracted"), "--out", str(tmp_path / "b")]) == 0
    for name in ("jobs", "skills", "transitions", "courses"):
        assert (tmp_path / "a" / f"{name}.csv").read_bytes() == (tmp_path / "b" / f"{name}.csv").read_bytes()


def test_rule_settings_change_transitions(tmp_path):
    zips = write_zips(tmp_path / "dl")
    assert (
        esco.main(
            [
                *map(str, zips),
                "--out",
                str(tmp_path / "c"),
                "--set",
                "min_jaccard=0.5",
                "--set",
                "optional_weight=0",
            ]
        )
        == 0
    )
    cat = load_catalog(tmp_path / "c")
    assert all(t.weight >= 0.5 for t in cat.transitions) and "jp" not in cat.jobs["nurse-1"].skills


def test_missing_file_and_column_errors(tmp_path, capsys):
    zips = write_zips(tmp_path / "a", drop="occupationSkillRelations.csv")
    assert esco.main([*map(str, zips), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "occupationskillrelations.csv" in err.lower() and "relations zip" in err
    zips = write_zips(tmp_path / "b", drop_column="iscoGroup")
    assert esco.main([*map(str, zips), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "occupations_en.csv" in err and "'iscoGroup'" in err
    assert esco.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "c")]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


ESCO_REAL = SHARED_DATA / "esco_v1.1.1"


@pytest.mark.slow
@pytest.mark.skipif(
    not ESCO_REAL.exists(), reason=f"ESCO v1.1.1 download not found at {ESCO_REAL} (../shared/data)"
)
def test_real_esco_download():
    # the import itself (without the catalog loader's validation, which the fixtures cover) to stay fast
    catalog, report = esco.import_esco([ESCO_REAL], esco.EscoImportConfig())
    assert report["occupations"] == len(catalog.jobs) == 3007
    assert len(catalog.skills) == 13896 and report["relations"] == 123855
    # 67 relations name a skill or occupation not in the CSVs; they are counted and skipped
    assert report["relations_with_unknown_uri"] < 0.001 * report["relations"]
    assert len({j.family for j in catalog.jobs.values()}) == 10
    levels = {j.level for j in catalog.jobs.values()}
    assert levels <= {1, 2, 3, 4, 5} and len(levels) == 5
    lv = {j.id: j.level for j in catalog.jobs.values()}
    assert all(lv[t.to_job] >= lv[t.from_job] and t.weight >= 0.1 for t in catalog.transitions)
    assert len(catalog.transitions) > 2 * len(catalog.jobs)
    taught = {s for c in catalog.courses.values() for s in c.skills}
    assert {s for j in catalog.jobs.values() for s in j.skills} <= taught
    assert report["skills_renamed_to_keep_apart"]  # e.g. Japanese / Javanese kept apart
    # essential before optional: no occupation above the cap unless its essential skills are
    counts = report["skills_per_job"]
    assert (
        counts["all"]["max"] <= max(30, counts["essential"]["max"])
        and report["optional_relations_dropped"] > 0
    )
