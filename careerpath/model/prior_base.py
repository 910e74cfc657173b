"""The course prior's shared parts: the log-linear :class:`CoursePrior` (mean taste of the courses
taken; still loads older model folders, and the base of :class:`~careerpath.model.prior_latent.LatentClassPrior`),
its features, the memo of model input texts and the one-thread context for small fits.
See :mod:`careerpath.model.prior` for the whole picture."""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from transformers import LogitsProcessor

from careerpath.core.context import CourseEligibility, GapRetriever
from careerpath.core.textformat import parse_input

PRIOR_FILE = "course_prior.json"
COURSE_FEATURES = ("log_hours", "hours", "level")  # phi: log(1 + hours), hours / 10, level - 1
TASTE_FEATURES = ("taken", "taken_log_hours", "taken_hours", "taken_level")  # psi
FEATURES = (
    "gap",
    *COURSE_FEATURES,
    *(f"{c}*{t}" for t in TASTE_FEATURES for c in COURSE_FEATURES),
)
# a course the person cannot take: finite, so that sums and gradients stay finite
EXCLUDED = -1.0e4


# course prior kinds a course_prior.json can name ("kind"): filled in by their classes
KINDS: dict[str, type] = {}


@contextmanager
def one_thread():
    """Small fits in one torch thread: many tiny ops, where a second thread only waits on the
    first (on a busy 2-core machine 30x slower: 24 s against 0.9 s for the tiny dataset's prior)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class TextMemo:
    """The last ``size`` values computed for model input texts, least recently used dropped
    first; thread-safe (the demo's request threads share one prior)."""

    def __init__(self, size: int = 4096):
        self.size = size
        self._items: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str):
        with self._lock:
            hit = self._items.get(text)
            if hit is not None:
                self._items.move_to_end(text)
            return hit

    def __contains__(self, text: str) -> bool:
        with self._lock:
            return text in self._items

    def __setitem__(self, text: str, value) -> None:
        with self._lock:
            self._items[text] = value
            self._items.move_to_end(text)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class CoursePrior:
    """The prior of every catalog course, in catalog order; see the module docstring.
    ``weights``: a number per name of :data:`FEATURES` (``"gap"`` required; others missing are 0)."""

    def __init__(self, retriever: GapRetriever, weights: dict[str, float]):
        unknown = sorted(set(weights) - set(FEATURES))
        if unknown or "gap" not in weights or not all(math.isfinite(float(v)) for v in weights.values()):
            raise ValueError(
                f"course prior weights must be finite numbers for gap and any of {', '.join(FEATURES[1:])}; "
                f"got {weights!r}"
            )
        self.retriever = retriever
        self.weights = {k: float(weights.get(k, 0.0)) for k in FEATURES}
        # how much of the model's own next-course log-probs the scorer adds to the prior (1: as
        # trained; chosen on validation after training, see careerpath/job_prior_scales.choose_scales)
        self.model_scale = 1.0
        cat = retriever.catalog
        self.catalog = cat
        self.course_ids = list(cat.courses)
        self._eligible = CourseEligibility(cat)
        self._course_pos = {c: i for i, c in enumerate(self.course_ids)}
        self._job_by_title = {j.title: j.id for j in cat.jobs.values()}
        self._skill_by_name = {s.name: s.id for s in cat.skills.values()}
        self._course_by_title = {c.title: c.id for c in cat.courses.values()}
        self._memo = TextMemo()
        hours = np.maximum([float(c.hours) for c in cat.courses.values()], 0.0)
        # phi of every course, [n_courses, 3] in COURSE_FEATURES order
        self._phi = np.column_stack(
            [
                np.log1p(hours),
                hours / 10.0,
                np.array([c.level - 1 for c in cat.courses.values()], dtype=float),
            ]
        )
        self._w = np.array([self.weights[k] for k in FEATURES])

    # -- the prior of one profile ------------------------------------------------------------
    def eligible(self, skills, taken=()) -> np.ndarray:
        """Which courses the person can take (:class:`~careerpath.core.context.CourseEligibility`)."""
        return self._eligible(skills, taken)

    def gap(self, job: str, goal: str, skills, taken=()) -> np.ndarray:
        """The gap score of every course (0 where it closes nothing of the gap)."""
        _, score = self.retriever.scores(job, goal, skills, taken)
        return np.where(np.isfinite(score), score, 0.0)

    def taste(self, taken=()) -> np.ndarray:
        """psi: (1, mean phi of the courses taken), or zeros when none is known."""
        pos = [self._course_pos[c] for c in taken if c in self._course_pos]
        if not pos:
            return np.zeros(len(TASTE_FEATURES))
        return np.concatenate([[1.0], self._phi[pos].mean(axis=0)])

    def features(self, job: str, goal: str, skills, taken=()) -> np.ndarray:
        """[n_courses, len(FEATURES)]: the prior's features of every course for one person
        (the prior is this times the weights, in FEATURES order)."""
        gap = self.gap(job, goal, skills, taken)
        psi = self.taste(taken)
        cross = [
            self._phi[:, i] * psi[j] for j in range(len(TASTE_FEATURES)) for i in range(len(COURSE_FEATURES))
        ]
        return np.column_stack([gap, self._phi, *cross])

    def vector(self, job: str, goal: str, skills, taken=(), history=()) -> np.ndarray:
        """float32 [n_courses]: the prior of each course, EXCLUDED for those the person cannot take
        (``history``, the jobs held, oldest first: read by :class:`~careerpath.model.prior_latent.LatentClassPrior` only)."""
        out = self.features(job, goal, skills, taken) @ self._w
        out[~self.eligible(skills, taken)] = EXCLUDED
        return out.astype(np.float32)

    def for_row(self, row: dict) -> np.ndarray:
        """The prior of a dataset row (its ``*_id`` fields)."""
        return self.vector(
            row["job_id"], row["goal_id"], row["skill_ids"], row["course_ids"], row.get("history_ids", ())
        )

    def note(self, text: str, job: str | None, goal: str | None, skills, taken=(), history=()) -> None:
        """Remember the prior of ``text``, the input made from this profile, without parsing it
        back (the recommender knows the ids it made the text from)."""
        if text not in self._memo:
            self._memo[text] = self.vector(job or "", goal or "", skills, taken, history)

    def for_text(self, text: str) -> np.ndarray:
        """The prior of a model input text (names read back to catalog ids; remembered)."""
        hit = self._memo.get(text)
        if hit is not None:
            return hit
        vec = self.vector(*self.ids_of_text(text))
        self._memo[text] = vec
        return vec

    def ids_of_text(self, text: str) -> tuple[str, str, list[str], list[str], list[str]]:
        """(job, goal, skills, courses taken, jobs held) of a model input text, as catalog ids."""
        p = parse_input(text, strict=False)
        return (
            self._job_by_title.get(p.job, ""),
            self._job_by_title.get(p.goal, ""),
            [self._skill_by_name[s] for s in p.skills if s in self._skill_by_name],
            [self._course_by_title[c] for c in p.courses if c in self._course_by_title],
            [self._job_by_title[j] for j in p.history if j in self._job_by_title],
        )

    def for_texts(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.for_text(t) for t in texts]) if texts else np.zeros((0, len(self.course_ids)))

    def course_tokens(self, tokenizer) -> tuple[list[int], list[int]]:
        """(the token of each course, catalog order; the ids of ``next_course:``) for ``tokenizer``."""
        from careerpath.model.scoring import course_token_ids

        key = id(tokenizer)
        if getattr(self, "_tokens_for", None) != key:
            tokens = course_token_ids(tokenizer, self.catalog)
            if tokens is None:
                raise ValueError(
                    "the course prior needs one token per course name (the tiny T5's catalog tokens); "
                    "this tokenizer splits some course names"
                )
            prefix = tokenizer("next_course:", add_special_tokens=False)["input_ids"]
            self._tokens, self._tokens_for = (tokens, prefix), key
        return self._tokens

    def processor(self, tokenizer, texts: list[str], num_beams: int = 1) -> CoursePriorProcessor:
        """The logits processor adding this prior to ``generate`` over ``texts``."""
        tokens, prefix = self.course_tokens(tokenizer)
        return CoursePriorProcessor(self.for_texts(texts), tokens, prefix, num_beams)

    # -- fitting, saving, loading -----------------------------------------------------------------
    @classmethod
    def fit(cls, retriever: GapRetriever, rows: list[dict], max_rows: int = 3000) -> CoursePrior:
        """The weights maximising the mean log-likelihood of the rows' next courses under the prior
        alone: a conditional logit over the courses each person could take (16 parameters,
        concave, L-BFGS). Against the generator's distribution (``probs_visible``, with the detour
        mass spread over the other courses the person could take) when every row has it, else
        against the course taken."""
        unit = cls(retriever, dict.fromkeys(FEATURES, 0.0))
        soft = all(r.get("probs_visible") for r in rows[:max_rows])
        feats, targets = [], []
        for row in rows[:max_rows]:
            c = unit._course_pos.get(row.get("next_course_id", ""))
            if c is None:
                continue
            ok = unit.eligible(row["skill_ids"], row["course_ids"])
            if not ok[c]:  # a choice the prior calls impossible cannot inform its weights
                continue
            q = np.zeros(len(ok))
            if soft:
                probs = row["probs_visible"]
                for cid, p in probs.get("course", {}).items():
                    if cid in unit._course_pos:
                        q[unit._course_pos[cid]] = p
                q *= ok
                rest = ok & (q == 0)
                if rest.any():
                    q[rest] += float(probs.get("course_other", 0.0)) / rest.sum()
            else:
                q[c] = 1.0
            keep = np.flatnonzero(ok)
            f = unit.features(row["job_id"], row["goal_id"], row["skill_ids"], row["course_ids"])
            feats.append(f[keep])
            targets.append(q[keep] / q[keep].sum())
        if not feats:
            raise ValueError("no row to fit the course prior on (rows need next_course_id and *_id fields)")
        width = max(len(f) for f in feats)
        x = torch.zeros(len(feats), width, len(FEATURES), dtype=torch.float64)
        t = torch.zeros(len(feats), width, dtype=torch.float64)
        mask = torch.zeros(len(feats), width, dtype=torch.bool)
        for i, (f, q) in enumerate(zip(feats, targets, strict=True)):
            x[i, : len(f)], t[i, : len(q)], mask[i, : len(f)] = torch.from_numpy(f), torch.from_numpy(q), True
        w = torch.zeros(len(FEATURES), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([w], max_iter=200, tolerance_grad=1e-9, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            z = (x @ w).masked_fill(~mask, -torch.inf)
            loss = -(t * torch.log_softmax(z, dim=1).masked_fill(~mask, 0.0)).sum(1).mean()
            loss.backward()
            return loss

        opt.step(closure)
        return cls(retriever, {k: round(float(v), 4) for k, v in zip(FEATURES, w.detach(), strict=True)})

    def save(self, folder: str | Path) -> None:
        data = {
            "weights": self.weights,
            "form": (
                "gap x gap score + sum over c of w[c] x phi_c + sum over c, t of w[c*t] x phi_c x psi_t; "
                "phi: log_hours = log(1 + hours), hours = hours / 10, level = level - 1 of the course; "
                "psi: taken = 1, taken_<c> = mean phi_c of the courses taken (all 0 when none); "
                "excluded: ineligible"
            ),
        }
        (Path(folder) / PRIOR_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path, retriever: GapRetriever | None) -> CoursePrior | None:
        """The prior saved with a model (None when it has none): the class of :data:`KINDS` the
        file names (``kind``: a :class:`~careerpath.model.prior_latent.LatentClassPrior`), else this log-linear form (models trained before it). A
        model trained with a prior is only right with it: a prior file without the catalog context
        it needs is an error."""
        path = Path(folder) / PRIOR_FILE
        if not path.is_file():
            return None
        if retriever is None:
            raise ValueError(
                f"{path}: the model was trained with a course prior, which needs the catalog context "
                f"(context.json) beside it; copy the training output folder whole"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("kind") in KINDS:
                return KINDS[data["kind"]].from_dict(retriever, data)
            return cls(retriever, {k: float(v) for k, v in data["weights"].items()})
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"{path}: not a valid course prior file ({err}); retrain the model") from err


class CoursePriorProcessor(LogitsProcessor):
    """Adds the prior to the next-course logits during ``generate``: at the decoder step after
    ``next_course:`` (the course is one token), each row's prior goes to the course tokens, then
    the row is renormalised (so beam scores stay log-probabilities)."""

    def __init__(self, bias: np.ndarray, course_tokens: list[int], prefix: list[int], num_beams: int = 1):
        self.bias = torch.as_tensor(bias, dtype=torch.float32)
        self.tokens = torch.tensor(course_tokens, dtype=torch.long)
        self.prefix = torch.tensor(prefix, dtype=torch.long)
        self.num_beams = num_beams

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        n = len(self.prefix)
        if input_ids.shape[1] != n + 1:  # decoder start token + the prefix
            return scores
        at = (input_ids[:, 1:] == self.prefix.to(input_ids.device)).all(dim=1)
        if not bool(at.any()):
            return scores
        rows = torch.arange(input_ids.shape[0], device=scores.device) // self.num_beams
        bias = self.bias.to(scores.device)[rows] * at.unsqueeze(1).to(scores.dtype)
        tokens = self.tokens.to(scores.device)
        scores = scores.clone()
        scores[:, tokens] = scores[:, tokens] + bias.to(scores.dtype)
        return torch.where(
            at.unsqueeze(1), torch.log_softmax(scores.float(), dim=-1).to(scores.dtype), scores
        )
