"""The one loader of a model folder (careerpath/model/bundle.py) and its readers."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from careerpath.core.catalog import load_catalog
from careerpath.core.context import load_context_file
from careerpath.model.bundle import ModelBundle, find_catalog
from careerpath.model.job_prior import JobPrior
from careerpath.model.prior import CoursePrior
from careerpath.serving.recommend import Recommender


def test_the_bundle_pairs_the_pieces_of_a_model_folder(tiny_model, tiny_dataset):
    b = ModelBundle.load(tiny_model)
    assert b.folder == tiny_model and b.kind == "seq2seq"
    assert list(b.catalog.courses) == list(load_catalog(tiny_model / "catalog").courses)
    info = load_context_file(tiny_model)
    assert b.context == info["context"] and b.retriever is not None
    assert b.retriever.cfg == info["context"] and b.retriever.catalog is b.catalog
    # the priors read the very gap rule the inputs were made with
    assert isinstance(b.prior, CoursePrior) and isinstance(b.job_prior, JobPrior)
    assert b.prior.retriever is b.retriever and b.job_prior.retriever is b.retriever
    # the scorer is the model with both priors
    s = b.scorer()
    assert s.prior is b.prior and s.job_prior is b.job_prior
    row = json.loads((tiny_dataset / "test.jsonl").read_text().splitlines()[0])
    course_lp, job_lp = s.score([row["input_text"]], [row["skill_ids"]])
    assert np.isfinite(course_lp).any() and np.allclose(np.exp(job_lp).sum(), 1.0, atol=1e-4)


def test_the_recommender_and_evaluation_read_a_folder_through_it(tiny_model):
    b = ModelBundle.load(tiny_model)
    rec = Recommender.from_bundle(b, use_embeddings=False)
    assert rec.context is b.retriever  # one gap rule for inputs, priors and pathways
    assert rec.scorer.prior is b.prior and rec.model_version == b.version
    other = Recommender.from_pretrained(tiny_model, use_embeddings=False)
    prof = {"job": "Data Analyst", "skills": ["SQL"], "goal": "Data Scientist"}
    got = [c["id"] for c in rec.recommend(prof)["next_courses"]]
    assert got == [c["id"] for c in other.recommend(prof)["next_courses"]]

    from careerpath.eval.evaluation_bias import recommender_for

    assert recommender_for(b).reranker is None  # evaluation scores the model's own ranking


def test_a_folder_without_its_catalog_says_what_to_pass(tiny_model, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(tiny_model, bare)
    shutil.rmtree(bare / "catalog")
    (bare / "config.yaml").write_text("data:\n  data_dir: /nowhere\n")
    with pytest.raises(FileNotFoundError, match="pass --catalog DIR"):
        find_catalog(bare)
    with pytest.raises(FileNotFoundError, match="pass --catalog DIR"):
        ModelBundle.load(bare)
    # a catalog handed over replaces the one that travels with the model
    b = ModelBundle.load(bare, catalog_dir=tiny_model / "catalog")
    assert len(b.catalog.courses) == len(load_catalog(tiny_model / "catalog").courses)
