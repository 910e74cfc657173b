import pytest

from careerpath.core.catalog import load_catalog
from careerpath.core.cleaning import NameIndex, find_near_duplicates, name_key


@pytest.fixture(scope="module")
def cat(tiny_catalog_dir):
    return load_catalog(tiny_catalog_dir)


@pytest.mark.parametrize("raw", ["JS", "Javascript", "java script", "JavaScript ", "javascript!"])
def test_javascript_spellings(cat, raw):
    assert cat.skill_index.resolve(raw)[0] == "javascript"


@pytest.mark.parametrize(
    "raw,expected,how",
    [
        ("ML", "machine-learning", "alias"),
        ("k8s", "kubernetes", "alias"),
        ("MS-Excel", "excel", "alias"),
        ("Machne Learning", "machine-learning", "fuzzy"),
        ("statistics", "statistics", "exact"),
    ],
)
def test_aliases_and_fuzzy(cat, raw, expected, how):
    sid, used = cat.skill_index.resolve(raw)
    assert sid == expected and used.startswith(how)


def test_unknown_gets_suggestions_not_a_guess(cat):
    assert cat.skill_index.resolve("Pottery")[0] is None
    assert "Deep Learning" in cat.skill_index.suggest("Deep Lerning")


def test_job_titles_resolve_through_alternates(cat):
    assert cat.job_index.resolve("ml engineer")[0] == "ml-engineer"
    assert cat.job_index.resolve("BI analyst")[0] == "data-analyst"
    assert cat.job_index.resolve("Sofware Engineer")[0] == "software-engineer"


def test_near_duplicate_skill_rows_are_merged_and_reported(tiny_catalog_dir, tmp_path):
    import shutil

    d = tmp_path / "c"
    shutil.copytree(tiny_catalog_dir, d)
    with open(d / "skills.csv", "a") as f:
        f.write("js-dup,Javascript,,programming\nml2,Machine-Learning,,ai\n")
    with open(d / "courses.csv", "a") as f:
        f.write("c-x,Frontend Extra,Extra course.,js-dup;ml2,,1,5,Northwind Academy\n")
    cat = load_catalog(d)
    assert "js-dup" not in cat.skills and "ml2" not in cat.skills
    assert cat.courses["c-x"].skills == ("javascript", "machine-learning")
    merged = {(m.raw, m.canonical) for m in cat.merges if m.kind == "skill"}
    assert ("Javascript", "JavaScript") in merged and ("Machine-Learning", "Machine Learning") in merged


def test_name_key_keeps_cpp_and_csharp():
    assert name_key("C++") != name_key("C#") != name_key("C")
    assert find_near_duplicates({"a": "C++", "b": "C#"}) == []
    idx = NameIndex("x")
    idx.add("cpp", "C++")
    assert idx.resolve("c++")[0] == "cpp" and idx.resolve("C")[0] is None
