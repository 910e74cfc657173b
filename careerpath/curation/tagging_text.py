"""The text side of tagging: the sentence encoders (all-MiniLM-L6-v2 or a hashing stand-in) and
the words, stems, sentences and phrases of a course's or job's title and description."""

from __future__ import annotations

import os
import re
from typing import Protocol

import numpy as np

from careerpath.core.catalog import Course, Job
from careerpath.curation.tagging_config import (
    TaggingConfig,
)


class Encoder(Protocol):
    """Anything with ``embed(texts) -> [n, d]`` unit vectors (MiniLM, or a tiny one in tests)."""

    def embed(self, texts: list[str]) -> np.ndarray: ...


class HashingEncoder:
    """Bag-of-stems hashed into ``dim`` buckets: a model-free stand-in for tests and quick checks."""

    def __init__(self, dim: int = 1024):
        self.dim = dim

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for tok in tokens(text):
                out[i, _stable_hash(stem(tok)) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


def _stable_hash(text: str) -> int:
    h = 2166136261
    for ch in text.encode("utf-8"):
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h


def make_encoder(cfg: TaggingConfig) -> Encoder | None:
    if not cfg.embeddings:
        return None
    if cfg.encoder == "hashing":
        return HashingEncoder()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from careerpath.core.embeddings import Embedder

    return Embedder(cache_dir=cfg.cache_dir or None, batch_size=cfg.batch_size)


# ---------------------------------------------------------------- text helpers

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#.]*[A-Za-z0-9+#]|[A-Za-z0-9]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
_PHRASE = re.compile(r"\s*(?:[,;:()]|\band\b|\bwith\b|\bthen\b)\s*")
_PREREQ = re.compile(
    r"\b(assumes?|requires?|required|prerequisites?|prior (knowledge|experience)|familiarity with|"
    r"you should (already )?know|for (people|those|learners) who (already )?(know|use))\b",
    re.IGNORECASE,
)
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ers", "er", "es", "ed", "s")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens; ``c++``, ``c#`` and ``node.js`` stay whole."""
    return [t.lower() for t in _TOKEN.findall(text)]


def stem(word: str) -> str:
    """A crude suffix stripper: it only has to map inflections of one word to the same key."""
    w = word.lower()
    if len(w) <= 3 or not w.isalpha():
        return w
    for suf in _SUFFIXES:
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            if suf == "s" and w[-2] in "siu":  # process, analysis, status
                break
            base = w[: -len(suf)]
            if suf in ("ies", "ied"):
                base += "y"
            elif len(base) > 3 and base[-1] == base[-2] and base[-1] not in "s":
                base = base[:-1]  # planning -> plan, modelling -> model
            w = base
            break
    return w[:-1] if w.endswith("e") and len(w) > 4 else w


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def phrases(sentence: str) -> list[str]:
    parts = [p.strip(" .!?") for p in _PHRASE.split(sentence)]
    return [p for p in parts if len(p.split()) >= 2]  # one word alone ("testing") matches too much


def is_prerequisite_sentence(sentence: str) -> bool:
    return bool(_PREREQ.search(sentence))


def item_text(item: Course | Job) -> tuple[str, list[str]]:
    """(title line, description sentences) of a course or job; a job's alternative titles count."""
    if isinstance(item, Job):
        title = "; ".join((item.title, *item.alt_titles))
    else:
        title = item.title
    return title, sentences(item.description)


# ---------------------------------------------------------------- word matching
