"""The model's job-by-course interaction (careerpath/model/course_cross.py): it learns a preference
the course prior cannot express (each job family's people prefer one provider), stays out where
there is none, round-trips through its safetensors file, and meets the model everywhere the prior
does while the priors' baseline stays the prior alone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from careerpath.app.export import export_model
from careerpath.core.catalog import load_catalog
from careerpath.core.config import ConfigError, load_config
from careerpath.core.context import retriever_for
from careerpath.data.build import build_dataset, load_data_config
from careerpath.data.synthesis_tables import _family_provider_bonus
from careerpath.model.bundle import ModelBundle
from careerpath.model.course_cross import CROSS_FILE, CourseCross, CrossedPrior, prior_alone, with_cross
from careerpath.model.prior import EXCLUDED, LatentClassPrior, load_prior
from careerpath.training import training
from tests.conftest import ROOT, TINY_MODEL_ARGS

USERS = 700


def _rows(folder, split):
    return [json.loads(line) for line in (folder / f"{split}.jsonl").read_text().splitlines()]


def _build(tmp_path_factory, bonus: float):
    cfg = load_data_config(
        ROOT / "configs" / "data" / "variant_providers.yaml",
        {"synthesis.users": USERS, "synthesis.provider_bonus": bonus},
    )
    out = tmp_path_factory.mktemp("cross") / f"bonus{bonus}"
    build_dataset(cfg, out, progress=False)
    cat = load_catalog(out / "catalog")
    train, val = _rows(out, "train"), _rows(out, "validation")
    prior = LatentClassPrior.fit(retriever_for(out, cat), train, restarts=1)
    return out, cat, prior, train, val


@pytest.fixture(scope="module")
def providers(tmp_path_factory):
    return _build(tmp_path_factory, 1.0)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return _build(tmp_path_factory, 0.0)


def test_fit_learns_each_familys_provider(providers):
    _, cat, prior, train, val = providers
    cross, report = CourseCross.fit(prior, train, val)
    assert cross is not None, report
    assert (
        report["validation_log_loss"][str(report["chosen"])] < report["validation_log_loss"]["prior"] - 0.01
    )
    planted = _family_provider_bonus(cat, 1.0)
    provider_cols = [i for i, n in enumerate(cross.course_names) if n.startswith("provider=")]
    right = 0
    for fam, bonus in planted.items():
        mine = next(c.provider for c, b in zip(cat.courses.values(), bonus, strict=True) if b > 0)
        a = np.zeros(len(cross.job_names))
        a[cross.job_names.index("bias")] = 1.0
        a[cross.job_names.index(f"family={fam}")] = 1.0
        weights = (a @ cross.matrix)[provider_cols]
        right += cross.course_names[provider_cols[int(np.argmax(weights))]] == f"provider={mine}"
    assert right >= len(planted) - 1, (right, len(planted))


def test_left_out_where_the_prior_already_describes_the_data(plain):
    _, _, prior, train, val = plain
    cross, report = CourseCross.fit(prior, train, val)
    assert cross is None and report["chosen"] is None
    assert "beat the prior alone" in report["why"]


def test_round_trip_and_the_crossed_prior_adds_it_on_eligible_courses(providers, tmp_path):
    folder, cat, prior, train, val = providers
    cross, _ = CourseCross.fit(prior, train, val)
    prior.save(tmp_path)
    cross.save(tmp_path)
    (tmp_path / "context.json").write_text((folder / "context.json").read_text())
    loaded = load_prior(tmp_path, cat)
    assert isinstance(loaded, CrossedPrior) and isinstance(prior_alone(loaded), LatentClassPrior)
    assert np.allclose(loaded.cross.matrix, cross.matrix, atol=1e-6)
    row = next(r for r in val if r["course_ids"])
    base, crossed = loaded.base.for_row(row), loaded.for_row(row)
    ok = base > EXCLUDED / 2
    assert (crossed[~ok] == base[~ok]).all()
    assert np.allclose(crossed[ok] - base[ok], cross.logits(row["job_id"])[ok], atol=1e-4)
    assert np.allclose(loaded.for_text(row["input_text"]), crossed, atol=1e-5)
    loaded.model_scale = 0.25  # the model scale is the prior's own
    assert loaded.base.model_scale == 0.25
    assert with_cross(None, tmp_path) is None


def test_a_broken_file_is_refused_by_name(providers, tmp_path):
    _, cat, *_ = providers
    (tmp_path / CROSS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match=CROSS_FILE):
        CourseCross.load(tmp_path, cat)
    with pytest.raises(ValueError, match="finite"):
        CourseCross(cat, ["bias"], ["provider=x"], np.array([[np.nan]]))


def test_training_saves_it_and_the_priors_baseline_leaves_it_out(providers, tmp_path):
    folder, *_ = providers
    out = tmp_path / "model"
    cfg = load_config(
        ["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--data.data-dir", str(folder)]
        + ["--train.output-dir", str(out), *TINY_MODEL_ARGS, "--data.max-train-examples", "3000"]
        + ["--data.max-eval-examples", "400"]
    )
    training.run_training(cfg)
    metrics = json.loads((out / "metrics.json").read_text())
    assert (out / CROSS_FILE).is_file() and metrics["course_cross"]["chosen"] is not None
    bundle = ModelBundle.load(out)
    assert isinstance(bundle.prior, CrossedPrior)
    assert bundle.scorer().prior is bundle.prior
    text = _rows(folder, "test")[0]["input_text"]
    assert not np.allclose(bundle.prior.for_text(text), bundle.prior.base.for_text(text))
    exported = ModelBundle.load(export_model(out, tmp_path / "exported"))  # carries both priors and it
    assert isinstance(exported.prior, CrossedPrior) and exported.job_prior is not None
    assert np.allclose(exported.prior.for_text(text), bundle.prior.for_text(text))
    never = load_config(["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--train.course-cross", "never"])
    assert never.train.course_cross == "never"
    with pytest.raises(ConfigError, match="course_cross"):
        load_config(["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--train.course-cross", "yes"])
