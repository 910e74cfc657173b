"""The one loader of a model folder: :meth:`ModelBundle.load`.

A training output folder (or its Hub copy) holds more than weights: the tokenizer, the catalog the
model was trained on (``catalog/``, or the training data's copy named in ``config.yaml``), the
catalog context its inputs were made with (``context.json``: the gap rule's settings and the
progression graph's), and the fitted priors (``course_prior.json``, ``job_prior.json``) that only
make sense with that context. The recommender, evaluation and the bias checks all read a model
folder through this class, so every reader pairs the same pieces the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from careerpath.core.catalog import Catalog, load_catalog
from careerpath.core.context import ContextConfig, GapRetriever, load_context_file, progression_for
from careerpath.core.progression import Progression
from careerpath.model.hub import resolve_model_dir
from careerpath.model.job_prior import JobPrior, load_job_prior
from careerpath.model.modeling import load_for_inference
from careerpath.model.prior import CoursePrior, load_prior
from careerpath.model.scoring import CatalogScorer


def find_catalog(model_dir: Path) -> Path:
    """The catalog a model was trained with: ``<model>/catalog`` or the training data's copy."""
    if (model_dir / "catalog").is_dir():
        return model_dir / "catalog"
    cfg = model_dir / "config.yaml"
    if cfg.exists():
        data = yaml.safe_load(cfg.read_text()) or {}
        data_dir = (data.get("data") or {}).get("data_dir")
        if data_dir and (Path(data_dir) / "catalog").is_dir():
            return Path(data_dir) / "catalog"
    raise FileNotFoundError(f"{model_dir}: no catalog found next to the model; pass --catalog DIR")


@dataclass
class ModelBundle:
    """A model folder, loaded: the network and tokenizer, the catalog, the catalog context and
    progression graph of its inputs, and its priors (None where the model has none)."""

    folder: Path
    model: object
    tokenizer: object
    kind: str
    catalog: Catalog
    context: ContextConfig | None  # the catalog context of its training inputs (None: trained without)
    progression: Progression | None  # the transition graph the dataset was built with (None: defaults)
    retriever: GapRetriever | None  # the context's gap rule, which the priors read
    prior: CoursePrior | None
    job_prior: JobPrior | None
    version: str

    @classmethod
    def load(
        cls,
        spec: str | Path,
        catalog: Catalog | None = None,
        catalog_dir: str | Path | None = None,
    ) -> ModelBundle:
        """``spec``: a training output folder (full model or LoRA adapter) or a Hub model id.
        ``catalog`` (already loaded) or ``catalog_dir`` replace the catalog that travels with the
        model (evaluation scores a dataset's own catalog)."""
        folder = resolve_model_dir(spec)
        if catalog is None:
            catalog = load_catalog(catalog_dir or find_catalog(folder))
        model, tokenizer, kind = load_for_inference(folder)
        info = load_context_file(folder)
        progression = progression_for(catalog, info) if info else None
        context = info["context"] if info else None
        retriever = (
            GapRetriever(catalog, progression, context) if context is not None and context.enabled else None
        )
        prior = load_prior(folder, catalog, retriever)
        job_prior = load_job_prior(folder, catalog, retriever)
        version = ""
        if (folder / "metrics.json").exists():
            version = json.loads((folder / "metrics.json").read_text()).get("model_version", "")
        return cls(
            folder,
            model,
            tokenizer,
            kind,
            catalog,
            context,
            progression,
            retriever,
            prior,
            job_prior,
            version or folder.name,
        )

    def scorer(self) -> CatalogScorer:
        """The catalog scorer of the model with its priors (the recommender's ranking path)."""
        return CatalogScorer(
            self.model,
            self.tokenizer,
            self.catalog,
            kind=self.kind,
            prior=self.prior,
            job_prior=self.job_prior,
        )
