from data_prep.catalog import load_catalog
from data_prep.progression import Progression, coverage, skill_gap


def test_graph_on_tiny_catalog(tiny_catalog_dir):
    cat = load_catalog(tiny_catalog_dir)
    prog = Progression(cat, n_next=3, n_courses=4)
    nxt = [b for b, _ in prog.next_jobs["junior-data-analyst"]]
    assert nxt[0] == "data-analyst"  # curated move ranks first
    assert all(len(m) <= 3 for m in prog.next_jobs.values())
    assert all(len(c) == 4 for c in prog.job_courses.values())
    assert prog.next_hop("junior-data-analyst", "data-scientist") == "data-analyst"
    assert prog.distances_to("data-scientist")["junior-data-analyst"] == 2


def test_skill_gap_and_coverage(tiny_catalog_dir):
    cat = load_catalog(tiny_catalog_dir)
    job = cat.jobs["data-analyst"]
    gap = skill_gap({"excel", "communication"}, job)
    assert [s for s, _ in gap] == ["sql", "data-viz", "statistics"]
    assert coverage(set(job.skills), job) == 1.0
    assert abs(coverage({"sql"}, job) - 0.9 / 3.6) < 1e-9


def test_bundled_catalog_every_job_has_next_jobs_and_courses():
    cat = load_catalog()
    prog = Progression(cat)
    assert not prog.unreachable()["no_next_job"]
    assert sum(len(m) for m in prog.next_jobs.values()) / len(cat.jobs) >= 4
    for job_id, courses in prog.job_courses.items():
        taught = {s for c in courses for s in cat.courses[c].skills}
        assert len(courses) == 10 and taught & set(cat.jobs[job_id].skills)
