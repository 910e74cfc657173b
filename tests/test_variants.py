"""Generator variants the priors do not encode (careerpath/data/synthesis.py: provider_bonus,
family_move_prob): they change what the generator does, as configured, and nothing else; every
configs/data/variant_*.yaml builds."""

from __future__ import annotations

import math

import pytest

from careerpath.core.catalog import load_catalog
from careerpath.core.progression import Progression
from careerpath.data.build import load_data_config
from careerpath.data.synthesis import STAY, Synthesiser, _family_provider_bonus
from tests.conftest import ROOT


def _synth(**overrides) -> Synthesiser:
    cfg = load_data_config(None, {"seed": 3, **overrides})
    cat = load_catalog(cfg.catalog)
    return Synthesiser(
        cat, Progression(cat, n_next=cfg.n_next_jobs, n_courses=cfg.n_courses_per_job), cfg.synthesis
    )


def _provider_share(synth: Synthesiser, users: range) -> float:
    """The generator's probability mass on the family's own provider, averaged over steps."""
    cat = synth.catalog
    bonus = _family_provider_bonus(cat, 1.0)
    total, n = 0.0, 0
    for i in users:
        events = synth.user(i)
        for ev in events:
            mine = bonus[cat.jobs[ev.start_job].family]
            pos = {c: k for k, c in enumerate(cat.courses)}
            total += sum(p for c, p in ev.probs["course"].items() if mine[pos[c]] > 0)
            n += 1
    return total / n


def test_provider_bonus_shifts_choices_to_the_familys_provider():
    plain, variant = _synth(), _synth(provider_bonus=1.0)
    users = range(40)
    a, b = _provider_share(plain, users), _provider_share(variant, users)
    assert b > a + 0.05, (a, b)
    # each family has one provider, families differ
    bonus = _family_provider_bonus(plain.catalog, 1.0)
    assert all((v > 0).any() for v in bonus.values())
    assert len({tuple(v) for v in bonus.values()}) > 1
    assert _family_provider_bonus(plain.catalog, 0.0) == {}


def test_family_move_prob_changes_move_timing_for_that_family_only():
    base = _synth()
    slow = _synth(family_move_prob={"healthcare": 0.1})
    fam = {j: base.catalog.jobs[j].family for j in base.catalog.jobs}
    seen = {"healthcare": [], "other": []}
    for i in range(150):
        for ev in slow.user(i):
            dist = ev.job_given_course
            hop_p = [p for k, p in dist.items() if k != STAY and p > 0.05]
            if hop_p:
                seen["healthcare" if fam[ev.job] == "healthcare" else "other"].append(max(hop_p))
    assert seen["healthcare"] and seen["other"]
    assert max(seen["healthcare"]) == pytest.approx(0.1, abs=1e-6)
    assert min(seen["other"]) == pytest.approx(0.8, abs=0.03)  # laterals take a share of stay only
    # the default stays what it was: one move probability for all
    assert all(
        math.isclose(max(p for k, p in ev.job_given_course.items() if k != STAY), 0.8, abs_tol=0.03)
        for i in range(60)
        for ev in base.user(i)
        if any(k != STAY and p > 0.05 for k, p in ev.job_given_course.items())
    )


def test_bad_variant_settings_are_refused():
    with pytest.raises(ValueError, match="family_move_prob"):
        _synth(family_move_prob={"astronauts": 0.5})
    with pytest.raises(ValueError, match="family_move_prob"):
        _synth(family_move_prob={"healthcare": 1.5})
    with pytest.raises(ValueError, match="provider_bonus"):
        _synth(provider_bonus=float("nan"))


@pytest.mark.parametrize("name", ["variant_providers", "variant_move_timing"])
def test_variant_configs_build(name, tmp_path):
    from careerpath.data.build import build_dataset

    cfg = load_data_config(ROOT / "configs" / "data" / f"{name}.yaml", {"users": 40})
    build_dataset(cfg, tmp_path / name, progress=False)
    rows = (tmp_path / name / "train.jsonl").read_text().splitlines()
    assert rows and all('"job_given_course"' in r for r in rows)
    # the variant is on, and only it
    on = {
        "variant_providers": cfg.synthesis.provider_bonus > 0,
        "variant_move_timing": bool(cfg.synthesis.family_move_prob),
    }
    assert on[name] and sum(on.values()) == 1
