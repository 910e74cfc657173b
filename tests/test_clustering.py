"""Course clustering: the three methods, the outputs on the tiny catalog, diversify and similar courses."""

import json
import math
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from careerpath.core.catalog import Catalog, load_catalog
from careerpath.curation import clustering
from careerpath.curation.clustering import (
    ClusteringConfig,
    describe,
    diversify,
    knee,
    load_clustering_config,
    run_dbscan,
    run_hierarchical,
    run_kmeans,
    similar_courses,
    skill_matrix,
)

ROOT = Path(__file__).resolve().parents[1]


def blobs(n_per=20, centers=((0, 0), (10, 0), (0, 10)), seed=0):
    rng = np.random.default_rng(seed)
    x = np.vstack([rng.normal(c, 0.5, size=(n_per, 2)) for c in centers])
    return x, np.repeat(np.arange(len(centers)), n_per)


def same_partition(a, b) -> bool:
    return len(set(zip(a.tolist(), b.tolist()))) == len(set(a.tolist())) == len(set(b.tolist()))


def test_methods_recover_obvious_groups():
    x, truth = blobs()
    cfg = ClusteringConfig(k_max=8, min_samples=4)
    km = run_kmeans(x, cfg)
    assert km.params["k"] == 3 and same_partition(km.labels, truth)
    assert [k for k, _ in km.search] == list(range(2, 9))
    hi = run_hierarchical(x, cfg)
    assert hi.params["k"] == 3 and same_partition(hi.labels, truth)
    db = run_dbscan(x, cfg)
    assert same_partition(db.labels[db.labels >= 0], truth[db.labels >= 0])
    assert len(set(db.labels[db.labels >= 0].tolist())) == 3 and (db.labels < 0).mean() < 0.1


def test_knee_of_k_distance_curve():
    curve = np.concatenate([np.linspace(0.1, 0.2, 90), np.linspace(0.5, 3.0, 10)])
    assert 85 <= knee(curve) <= 90
    assert knee([1.0, 1.0, 1.0]) == 1


def test_skill_features_weighting(tiny_catalog_dir):
    cat = load_catalog(tiny_catalog_dir)
    m = skill_matrix(cat, prerequisite_weight=0.5)
    assert np.allclose(np.linalg.norm(m, axis=1), 1.0)
    col = {s: j for j, s in enumerate(cat.skills)}
    row = m[list(cat.courses).index("c-ml1")]  # teaches ML, requires python and statistics
    assert row[col["machine-learning"]] > row[col["python"]] > 0 and row[col["sql"]] == 0


def test_cli_outputs_on_the_tiny_catalog(tmp_path, tiny_catalog_dir, capsys):
    out = tmp_path / "clusters"
    argv = ["--catalog", str(tiny_catalog_dir), "--method", "all", "--out", str(out), "--encoder", "hashing"]
    assert clustering.main([*argv, "--k-max", "8", "--write-catalog"]) == 0
    printed = capsys.readouterr().out
    assert "| kmeans" in printed and "chosen:" in printed
    report = (out / "report.md").read_text()
    for m in ("kmeans", "hierarchical", "dbscan"):
        assert f"| {m}" in report and f"![{m}](projection_{m}.png)" in report
        png = (out / f"projection_{m}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    data = json.loads((out / "clusters.json").read_text())
    cat = load_catalog(tiny_catalog_dir)
    chosen = data["chosen"]
    assert chosen in data["methods"]
    for d in data["methods"].values():
        assert set(d["assignment"]) == set(cat.courses)
        assert sum(c["size"] for c in d["clusters"]) == len(cat.courses)
        assert d["silhouette"] is None or -1 <= d["silhouette"] <= 1
        assert 0 <= d["noise_share"] <= 1
        for c in d["clusters"]:
            assert c["label"] and (c["id"] < 0 or c["top_skills"])
    km = data["methods"]["kmeans"]
    assert 2 <= km["n_clusters"] <= 8 and km["params"]["k"] == km["n_clusters"] == len(km["clusters"])
    best = max(
        (d for d in data["methods"].values() if d["silhouette"] is not None and d["noise_share"] <= 0.25),
        key=lambda d: d["silhouette"],
    )
    assert best["method"] == chosen
    tagged = load_catalog(out / "catalog")  # the catalog copy reloads with its cluster column
    assert {cid: c.cluster for cid, c in tagged.courses.items()} == data["methods"][chosen]["assignment"]
    assert "cluster" in (out / "catalog" / "courses.csv").read_text().splitlines()[0]
    # --choose picks the written clustering; only the chosen method's labels are written
    assert clustering.main([*argv, "--choose", "kmeans", "--write-catalog", str(tmp_path / "c2")]) == 0
    again = load_catalog(tmp_path / "c2")
    data = json.loads((out / "clusters.json").read_text())
    assert {cid: c.cluster for cid, c in again.courses.items()} == data["methods"]["kmeans"]["assignment"]


def test_cli_errors(tmp_path, tiny_catalog_dir, capsys):
    out = str(tmp_path / "o")
    assert clustering.main(["--catalog", str(tmp_path / "missing"), "--out", out]) == 2
    assert "not a folder" in capsys.readouterr().err
    argv = ["--catalog", str(tiny_catalog_dir), "--out", out, "--encoder", "none"]
    assert clustering.main([*argv, "--method", "kmeans", "--choose", "dbscan"]) == 2
    assert "--choose dbscan needs --method dbscan" in capsys.readouterr().err
    bad = tmp_path / "c.yaml"
    bad.write_text("k_max: 1\n")
    assert clustering.main([*argv, "--config", str(bad)]) == 2
    assert "k_min <= k_max" in capsys.readouterr().err


def test_describe_labels_clusters_by_their_distinctive_skills(tiny_catalog_dir):
    cat = load_catalog(tiny_catalog_dir)
    ids = list(cat.courses)
    labels = np.array([0 if cat.courses[i].skills[0] in ("python", "sql", "excel") else 1 for i in ids])
    labels[ids.index("c-com1")] = -1
    d = {c["id"]: c for c in describe(cat, labels, top=2)}
    assert d[-1]["label"] == "noise" and d[-1]["courses"] == ["c-com1"]
    assert set(d[0]["top_skills"]) <= {"python", "sql", "excel", "data-engineering", "data-viz"}
    assert d[0]["label"].count(" / ") == 1
    assert sum(c["size"] for c in d.values()) == len(ids)


def with_clusters(cat: Catalog, clusters: dict[str, int]) -> Catalog:
    courses = {cid: replace(c, cluster=clusters.get(cid, -1)) for cid, c in cat.courses.items()}
    return Catalog(cat.skills, courses, cat.jobs, cat.transitions, cat.merges, cat.source)


def test_similar_courses_prefers_same_cluster_then_skill_overlap(tiny_catalog_dir):
    cat = load_catalog(tiny_catalog_dir)
    plain = similar_courses(cat, "c-py1", 3)
    assert plain[0] == "c-py2" and "c-py1" not in plain and len(plain) == 3
    cat = with_clusters(cat, {"c-py1": 1, "c-lead3": 1, "c-com1": 1})
    got = similar_courses(cat, "c-py1", 4)
    assert set(got[:2]) == {"c-lead3", "c-com1"}  # same cluster first, though they share no skill
    assert got[2] == "c-py2"  # then the closest by skills
    assert similar_courses(cat, "c-py1", 0) == []
    assert len(similar_courses(cat, "c-py1", 100)) == len(cat.courses) - 1
    with pytest.raises(KeyError, match="unknown course 'nope'"):
        similar_courses(cat, "nope", 3)


def test_diversify_spreads_top_k_across_clusters():
    ranked = ["a1", "a2", "a3", "a4", "b1", "b2", "c1"]
    cluster_of = {i: "abc".index(i[0]) for i in ranked}
    # 3 clusters, k=3: one from each, in rank order
    assert diversify(ranked, cluster_of, 3) == ["a1", "b1", "c1"]
    # k=4: cap ceil(4/3)=2 per cluster
    assert diversify(ranked, cluster_of, 4) == ["a1", "a2", "b1", "b2"]
    # too few other clusters: the skipped items fill up in rank order
    assert diversify(ranked, cluster_of, 6) == ["a1", "a2", "b1", "b2", "c1", "a3"]
    # one cluster: unchanged; unclustered items count as their own cluster
    assert diversify(["a1", "a2", "a3"], cluster_of, 2) == ["a1", "a2"]
    assert diversify(["a1", "a2", "x", "y"], cluster_of, 2) == ["a1", "x"]
    assert diversify(ranked, cluster_of, 0) == []


@given(
    ranked=st.lists(st.integers(0, 30), unique=True, max_size=25).map(lambda xs: [f"i{x}" for x in xs]),
    n_clusters=st.integers(1, 6),
    k=st.integers(0, 12),
)
def test_diversify_properties(ranked, n_clusters, k):
    cluster_of = {i: int(i[1:]) % n_clusters for i in ranked}
    out = diversify(ranked, cluster_of, k)
    assert len(out) == min(k, len(ranked)) and len(set(out)) == len(out) and set(out) <= set(ranked)
    if not out:
        return
    present = len({cluster_of[i] for i in ranked})
    cap = math.ceil(k / min(k, present))
    counts = Counter(cluster_of[i] for i in out)
    over = [c for c, n in counts.items() if n > cap]
    if over:  # a cluster goes over the cap only when every other cluster is used up
        for c in {cluster_of[i] for i in ranked} - set(over):
            assert counts[c] == sum(cluster_of[i] == c for i in ranked) or counts[c] >= cap
    # what is taken first keeps the original rank order
    first = [i for i in out if counts[cluster_of[i]] <= cap]
    assert first == [i for i in ranked if i in first]


def test_clustering_config_loads_and_rejects_unknown_keys(tmp_path):
    cfg = load_clustering_config()
    raw = yaml.safe_load((ROOT / "configs/data/clustering.yaml").read_text())
    for key, value in raw.items():
        assert getattr(cfg, key) == value
    bad = tmp_path / "c.yaml"
    bad.write_text("kmax: 3\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) kmax"):
        load_clustering_config(bad)
