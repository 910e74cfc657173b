from careerpath.core.catalog import load_catalog
from careerpath.core.progression import Progression, coverage, skill_gap


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


def test_coverage_only_grows_with_skills_and_synthesis_caches_it_exactly():
    """The generators rely on coverage never falling when a skill is added (so only next jobs not
    yet reachable can change); the reference generator looks it up by the bits of the skills held."""
    import itertools

    from careerpath.data.build import load_data_config
    from tests.reference_synthesis import Synthesiser

    cat = load_catalog()
    synth = Synthesiser(cat, Progression(cat), load_data_config(None).synthesis)
    for job in list(cat.jobs.values())[:12]:
        ids = list(job.skills)
        for mask in range(0, 1 << len(ids), 7):
            held = {s for k, s in enumerate(ids) if mask >> k & 1}
            cov = coverage(held, job)
            assert synth._coverage(job.id, mask) == cov
            for k in range(len(ids)):
                assert coverage(held | {ids[k]}, job) >= cov
        for a, b in itertools.combinations(ids[:4], 2):
            assert coverage({a, b}, job) == synth._coverage(job.id, (1 << ids.index(a)) | (1 << ids.index(b)))
