"""The job prior: when a person moves and where to, from how ready each next course makes them.

A move becomes realistic once a person holds ``move_threshold`` of a job's required skills
(importance-weighted, the one gap rule of :class:`~careerpath.core.context.GapRetriever`). So the next
job depends on the course taken just before it: for each course c the person could take,

    ready_b(c) = coverage of next job b with the skills held plus what c teaches >= threshold

for b the next step on the route to the goal and the other jobs the current one leads to
(laterals). Given the course,

    P(next job | c) = (1 - floor) [(1 - abandon) pattern(ready(c)) + abandon pattern(ready now)] + floor spread

    pattern: P(next step) = move if it is ready; each ready lateral shares lateral x P(not moving
             on); stay takes the rest. Or (``laterals: graph``, the likelier on the data decides)
             every next job, the next step included, ready or not, shares it by 1 / its rank among them

(an abandoned course teaches nothing, so readiness stays as it was); ``spread`` shares the floor
among the job's known destinations and the jobs most like it (:meth:`JobPrior.spread`). The four numbers are fitted
by maximum likelihood of the training rows' next jobs *given the course actually taken* (what the
model's decoder also sees). The next-job distribution of a profile is then the mixture over the
whole course distribution, ``sum_c p(c) P(next job | c)``, not only over the likeliest courses.

The fine-tuned model is the other expert: for the ``k`` likeliest courses its next-job
log-probabilities, times ``model_scale``, are added to ``log P(next job | c)`` (renormalised).
``model_scale`` is chosen on the validation split by the next-job log-loss through the scorer, so
0 (the prior alone) is what a model that learned nothing beyond the prior gets.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from scipy import sparse
from transformers import LogitsProcessor

from careerpath.core.context import GapRetriever
from careerpath.core.textformat import STAY, parse_input, parse_target
from careerpath.model.prior_base import TextMemo, one_thread

JOB_PRIOR_FILE = "job_prior.json"
PARAMS = ("move", "lateral", "abandon", "floor")
LATERALS = ("ready", "graph")  # where lateral moves go: see careerpath/data/synthesis.py, lateral_moves
MIN_FLOOR = 1e-3  # the least probability mass a fitted prior spreads over other jobs
SPREAD_TEMPERATURE = 0.1  # of the skill-similarity softmax that spreads it (JobPrior.spread)
GRAPH_SHARE = 0.8  # of the floor that follows the transition graph's next jobs (JobPrior.spread)


class JobTable:
    """The job prior of one profile over the scorer's jobs (catalog order, then stay): per course,
    which readiness pattern it leads to when it teaches what it teaches (``taught``), the pattern
    now (an abandoned course teaches nothing), and the abandonment share."""

    __slots__ = ("codes", "taught", "now", "abandon")

    def __init__(self, codes: np.ndarray, taught: np.ndarray, now: np.ndarray, abandon: float):
        self.codes, self.taught, self.now, self.abandon = codes, taught, now, abandon

    def mixture(self, course_p: np.ndarray) -> np.ndarray:
        """P(next job) when the next course follows ``course_p``."""
        mass = np.bincount(self.codes, weights=course_p, minlength=self.taught.shape[0])
        return (1 - self.abandon) * (mass @ self.taught) + self.abandon * course_p.sum() * self.now

    def given(self, course: int) -> np.ndarray:
        """P(next job | the course), abandonment included."""
        return (1 - self.abandon) * self.taught[self.codes[course]] + self.abandon * self.now

    def given_taught(self, course: int) -> np.ndarray:
        """P(next job | the course, and it taught what it teaches): what the model's decoder is
        conditioned on once it has written the skills gained."""
        return self.taught[self.codes[course]]


class JobPrior:
    """See the module docstring. ``params``: a number per name of :data:`PARAMS`, each in [0, 1)."""

    def __init__(
        self,
        retriever: GapRetriever,
        params: dict[str, float],
        model_scale: float = 0.0,
        laterals: str = "ready",
    ):
        if laterals not in LATERALS:
            raise ValueError(f"job prior laterals: one of {', '.join(LATERALS)}; got {laterals!r}")
        self.laterals = laterals
        bad = set(params) != set(PARAMS) or not all(
            isinstance(v, (int, float)) and 0.0 <= float(v) < 1.0 for v in params.values()
        )
        if bad or not (isinstance(model_scale, (int, float)) and 0.0 <= model_scale <= 4.0):
            raise ValueError(
                f"a job prior needs {', '.join(PARAMS)} in [0, 1) and a model_scale in [0, 4]; "
                f"got {params!r}, model_scale={model_scale!r}"
            )
        self.retriever = retriever
        self.catalog = cat = retriever.catalog
        self.params = {k: float(params[k]) for k in PARAMS}
        self.model_scale = float(model_scale)
        self.threshold = retriever.cfg.move_threshold
        self.job_ids = [*cat.jobs, STAY]
        self._job_pos = {j: i for i, j in enumerate(self.job_ids)}
        self._courses = list(cat.courses.values())
        self._course_pos = {c: i for i, c in enumerate(cat.courses)}
        self._job_by_title = {j.title: j.id for j in cat.jobs.values()}
        self._skill_by_name = {s.name: s.id for s in cat.skills.values()}
        self._teach_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        # which course teaches which skill, sparse (O*NET and ESCO catalogs are large)
        self._skill_col = {s: i for i, s in enumerate(cat.skills)}
        rows = [i for i, c in enumerate(self._courses) for s in c.skills if s in self._skill_col]
        cols = [self._skill_col[s] for c in self._courses for s in c.skills if s in self._skill_col]
        self._course_skill = sparse.csr_matrix(
            (np.ones(len(rows)), (rows, cols)), shape=(len(self._courses), len(self._skill_col))
        )
        self._course_skill.sum_duplicates()
        self._course_skill.data[:] = 1.0
        self._spread_cache: dict[str, np.ndarray] = {}
        # importance-weighted skill vectors of the jobs, unit length, sparse (ESCO: ~3,000 x ~14,000),
        # for spreading the floor
        entries = [
            (r, self._skill_col[s], float(w))
            for r, j in enumerate(cat.jobs.values())
            for s, w in j.skills.items()
            if s in self._skill_col
        ]
        vec = sparse.csr_matrix(
            ([w for _, _, w in entries], ([r for r, _, _ in entries], [c for _, c, _ in entries])),
            shape=(len(cat.jobs), len(self._skill_col)),
        )
        norm = np.sqrt(np.asarray(vec.multiply(vec).sum(axis=1)).ravel())
        self._job_vec = sparse.diags(np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)) @ vec
        self._memo = TextMemo()

    # -- readiness ---------------------------------------------------------------------------
    def _teach(self, job: str) -> tuple[np.ndarray, np.ndarray]:
        """(weights of the job's required skills, [n_courses, n_required] which course teaches which)."""
        hit = self._teach_cache.get(job)
        if hit is None:
            req = self.catalog.jobs[job].skills
            cols = [self._skill_col.get(s, -1) for s in req]
            t = np.zeros((len(self._courses), len(req)))
            known = [k for k, c in enumerate(cols) if c >= 0]
            if known:
                t[:, known] = self._course_skill[:, [cols[k] for k in known]].toarray()
            if len(self._teach_cache) > 4096:
                self._teach_cache.clear()
            hit = self._teach_cache[job] = (np.array(list(req.values()), dtype=float), t)
        return hit

    def _ready(self, job: str, skills: set[str]) -> tuple[bool, np.ndarray]:
        """(ready for ``job`` now, ready after each course), at the retriever's threshold and rounding."""
        w, t = self._teach(job)
        total = float(w.sum())
        if total <= 0:
            return True, np.ones(len(self._courses), dtype=bool)
        held = np.array([s in skills for s in self.catalog.jobs[job].skills], dtype=float)
        now = float(held @ w)
        after = now + (t * (1.0 - held)) @ w
        cut = self.threshold - 1e-9
        return round(now / total, 9) >= cut, np.round(after / total, 9) >= cut

    def lateral_weights(self, job: str, laterals: list[str]) -> dict[str, float]:
        """Graph laterals' weights: 1 / (rank among ``job``'s next jobs + 1), as the generator's
        ``lateral_moves: graph`` draws them."""
        ranked = list(dict.fromkeys(b for b, _ in self.retriever.progression.next_jobs.get(job, [])))
        return {b: 1.0 / (ranked.index(b) + 1.0) for b in laterals if b in ranked}

    def candidates(self, job: str, goal: str) -> tuple[str, list[str]]:
        """(the next step on the route to the goal, "" when none; the other jobs ``job`` leads to)."""
        hop = self.retriever.next_step(job, goal) if job in self.catalog.jobs else ""
        nexts = self.retriever.progression.next_jobs.get(job, []) if job in self.catalog.jobs else []
        return hop, [b for b in dict.fromkeys(b for b, _ in nexts) if b != hop]

    def codes(self, job: str, goal: str, skills) -> tuple[str, list[str], int, np.ndarray]:
        """(hop, laterals, readiness code now, code after each course); bit 0 the hop, then laterals."""
        hop, laterals = self.candidates(job, goal)
        held = set(skills)
        now, after = 0, np.zeros(len(self._courses), dtype=np.int64)
        for bit, b in enumerate([hop, *laterals]):
            if not b:
                continue
            ready_now, ready_after = self._ready(b, held)
            now |= int(ready_now) << bit
            after |= ready_after.astype(np.int64) << bit
        return hop, laterals, now, after

    def spread(self, job: str) -> np.ndarray:
        """How the floor's mass is spread over the jobs and stay: a move the readiness rule does not
        predict goes where people from ``job`` go. :data:`GRAPH_SHARE` follows the transition
        graph's next jobs of ``job`` in their order, 1 / rank (the catalog's own transitions first,
        observed mobility where the importer had it), the rest the skill similarity of every job (softmax of
        the cosine of importance-weighted skill vectors at temperature :data:`SPREAD_TEMPERATURE`);
        ``job`` itself and stay get none; uniform for a job the catalog lacks."""
        hit = self._spread_cache.get(job)
        if hit is None:
            out = np.zeros(len(self.job_ids))
            if job in self._job_pos:
                i = self._job_pos[job]
                z = np.asarray((self._job_vec @ self._job_vec[i].T).todense()).ravel() / SPREAD_TEMPERATURE
                z[i] = -np.inf
                similar = np.exp(z - z.max())
                out[:-1] = similar / similar.sum()
                # by rank: the graph's scores mix scales (a catalog's own moves sit on an offset)
                ranked = [self._job_pos[b] for b, _ in self.retriever.progression.next_jobs.get(job, [])]
                moves = [(k, 1.0 / (r + 1)) for r, k in enumerate(k for k in ranked if k != i)]
                total = sum(w for _, w in moves)
                if total > 0:
                    out *= 1.0 - GRAPH_SHARE
                    for k, w in moves:
                        out[k] += GRAPH_SHARE * w / total
            else:
                out[:-1] = 1.0
            hit = out / out.sum()
            if len(self._spread_cache) > 4096:
                self._spread_cache.clear()
            self._spread_cache[job] = hit
        return hit

    def _pattern(self, hop: str, laterals: list[str], code: int, graph_w: dict | None = None) -> np.ndarray:
        p = np.zeros(len(self.job_ids))
        stay = 1.0
        if hop and code & 1:
            p[self._job_pos[hop]] = self.params["move"]
            stay -= self.params["move"]
        if graph_w is not None:  # every next job, the hop included, by 1 / its rank among them
            weights = graph_w
        else:  # the ready laterals, evenly
            weights = {b: 1.0 for k, b in enumerate(laterals, start=1) if code >> k & 1}
        if weights:
            share = self.params["lateral"] * stay
            total = sum(weights.values())
            for b, w in weights.items():
                p[self._job_pos[b]] += share * w / total
            stay -= share
        p[-1] += stay
        return p

    # -- the prior of one profile ------------------------------------------------------------
    def table(self, job: str, goal: str, skills) -> JobTable:
        hop, laterals, now, after = self.codes(job, goal, skills)
        uniq, inv = np.unique(after, return_inverse=True)
        floor = self.params["floor"]

        spread = self.spread(job)
        graph_w = self.lateral_weights(job, [hop, *laterals]) if self.laterals == "graph" else None

        def floored(code: int) -> np.ndarray:
            return (1 - floor) * self._pattern(hop, laterals, code, graph_w) + floor * spread

        taught = np.stack([floored(int(c)) for c in uniq])
        return JobTable(inv.astype(np.int64), taught, floored(now), self.params["abandon"])

    def for_row(self, row: dict) -> np.ndarray:
        """log P(next job | the row's course, as the target shows it: taught or abandoned), for
        the training loss (the model learns what this misses)."""
        table = self.table(row["job_id"], row["goal_id"], row["skill_ids"])
        pos = self._course_pos.get(row.get("next_course_id", ""))
        p = table.now if pos is None or not row.get("skills_gained_ids") else table.given_taught(pos)
        return np.log(np.maximum(p, 1e-300)).astype(np.float32)

    def for_text(self, text: str) -> JobTable:
        """The job prior of a model input text (names read back to catalog ids; remembered)."""
        hit = self._memo.get(text)
        if hit is not None:
            return hit
        p = parse_input(text, strict=False)
        table = self.table(
            self._job_by_title.get(p.job, ""),
            self._job_by_title.get(p.goal, ""),
            {self._skill_by_name[s] for s in p.skills if s in self._skill_by_name},
        )
        self._memo[text] = table
        return table

    def combine(
        self, table: JobTable, course_p: np.ndarray, top: np.ndarray, model_lp: np.ndarray
    ) -> np.ndarray:
        """log P(next job): the prior's mixture over every course, where for each of the ``top``
        courses the taught part, P(job | c taught), is multiplied by exp(model_scale x the model's
        log-prob given that course and its skills, ``model_lp[i]`` for ``top[i]``) and
        renormalised (the model was trained as a residual on exactly this, see training.py)."""
        out = table.mixture(course_p)
        if self.model_scale > 0 and len(top):
            for i, c in enumerate(top):
                prior_c = table.given_taught(int(c))
                z = np.log(np.maximum(prior_c, 1e-300)) + self.model_scale * model_lp[i]
                poe = np.exp(z - z.max())
                out = out + (1 - table.abandon) * course_p[c] * (poe / poe.sum() - prior_c)
        return np.log(np.maximum(out, 1e-300))

    # -- fitting, saving, loading ------------------------------------------------------------
    @classmethod
    def fit(cls, retriever: GapRetriever, rows: list[dict], max_rows: int = 20000) -> JobPrior:
        """Maximum likelihood of each row's next job given the course it took (4 numbers, L-BFGS),
        for each way lateral moves can go (:data:`LATERALS`); the likelier one is kept."""
        unit = cls(retriever, dict.fromkeys(PARAMS, 0.0))
        course_pos = {c: i for i, c in enumerate(retriever.catalog.courses)}
        # per row: hop ready after / now, ready laterals after / now, the label lateral ready after /
        # now, the label's kind, its floor spread, any graph lateral, the label's graph weight share
        feats = []
        for row in rows[:max_rows]:
            c = course_pos.get(row.get("next_course_id", ""))
            label = row.get("next_job_id", "")
            if c is None or not label:
                continue
            hop, laterals, now, after = unit.codes(row["job_id"], row["goal_id"], row["skill_ids"])
            a = int(after[c])
            kind = 0 if label == STAY else 1 if label == hop else 2 if label in laterals else 3
            k = laterals.index(label) + 1 if kind == 2 else 0
            graph_w = unit.lateral_weights(row["job_id"], [hop, *laterals])
            graph_total = sum(graph_w.values())
            feats.append(
                [
                    a & 1,
                    now & 1,
                    bin(a >> 1).count("1"),
                    bin(now >> 1).count("1"),
                    (a >> k & 1) if k else 0,
                    (now >> k & 1) if k else 0,
                    kind,
                    float(unit.spread(row["job_id"])[unit._job_pos[label]])
                    if label in unit._job_pos
                    else 0.0,
                    float(bool(graph_w)),
                    graph_w.get(label, 0.0) / graph_total if kind == 2 and graph_w else 0.0,
                    graph_w.get(hop, 0.0) / graph_total if graph_w else 0.0,
                ]
            )
        if not feats:
            raise ValueError(
                "no row to fit the job prior on (rows need next_course_id, next_job_id and *_id)"
            )
        f = torch.tensor(feats, dtype=torch.float64)
        best = None
        for laterals in LATERALS:
            params, loss = _fit_params(f, laterals)
            if best is None or loss < best[2] - 1e-9:
                best = (laterals, params, loss)
        laterals, fitted, _ = best
        # never certain: a destination the prior rules out is one the model could not learn
        fitted["floor"] = max(fitted["floor"], MIN_FLOOR)
        return cls(retriever, {k: round(v, 6) for k, v in fitted.items()}, laterals=laterals)

    def processor(self, tokenizer, texts: list[str], num_beams: int = 1) -> JobPriorProcessor:
        """The logits processor adding this prior to ``generate`` over ``texts``."""
        return JobPriorProcessor(self, tokenizer, texts, num_beams)

    def save(self, folder: str | Path) -> None:
        data = {
            "params": self.params,
            "model_scale": self.model_scale,
            "laterals": self.laterals,
            "form": __doc__.split("\n\n")[2].strip(),
        }
        (Path(folder) / JOB_PRIOR_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path, retriever: GapRetriever | None) -> JobPrior | None:
        path = Path(folder) / JOB_PRIOR_FILE
        if not path.is_file():
            return None
        if retriever is None:
            raise ValueError(f"{path}: the job prior needs the catalog context (context.json) beside it")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                retriever, data["params"], float(data.get("model_scale", 0.0)), data.get("laterals", "ready")
            )
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"{path}: not a valid job prior file ({err}); retrain the model") from err


def _fit_params(f: torch.Tensor, laterals: str) -> tuple[dict[str, float], float]:
    """(the four numbers, the mean negative log-likelihood) of :meth:`JobPrior.fit`'s rows ``f``
    when lateral moves go as ``laterals`` says."""
    theta = torch.tensor([1.0, -3.0, -3.0, -6.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([theta], max_iter=200, tolerance_grad=1e-10, line_search_fn="strong_wolfe")
    if laterals == "graph":  # every next job, the hop included, ready or not, by its weight
        lat_after = lat_now = (f[:, 8], f[:, 9], f[:, 10])
    else:  # the ready laterals, evenly
        zero = torch.zeros_like(f[:, 0])
        lat_after, lat_now = (f[:, 2], f[:, 4], zero), (f[:, 3], f[:, 5], zero)

    def nll():
        m, lat, ab, fl = torch.sigmoid(theta)

        def pattern(hop_ready, n_lat, lab_ready, hop_share):
            stay0 = 1 - m * hop_ready
            share = lat * stay0 * (n_lat > 0)
            return torch.stack(
                [
                    stay0 - share,
                    m * hop_ready + share * hop_share,
                    share * lab_ready / n_lat.clamp(min=1),
                    torch.zeros_like(m * hop_ready),
                ],
                dim=1,
            )

        p_after = pattern(f[:, 0], *lat_after)
        p_now = pattern(f[:, 1], *lat_now)
        p = (1 - ab) * p_after + ab * p_now
        p = p.gather(1, f[:, 6:7].long()).squeeze(1)
        return -torch.log(((1 - fl) * p + fl * f[:, 7]).clamp(min=1e-300)).mean()

    def closure():
        opt.zero_grad()
        loss = nll()
        loss.backward()
        return loss

    with one_thread():
        opt.step(closure)
        with torch.no_grad():
            loss = float(nll())
    return dict(zip(PARAMS, torch.sigmoid(theta.detach()).tolist(), strict=True)), loss


def log_loss(job_lp: np.ndarray, labels: list[int]) -> float:
    """Mean negative log-likelihood of ``labels`` under rows of log-probabilities."""
    return float(-np.mean([job_lp[r, j] for r, j in enumerate(labels)])) if labels else math.nan


def load_job_prior(model_dir: str | Path, catalog, retriever: GapRetriever | None = None) -> JobPrior | None:
    """The job prior saved in a model folder (None when it has none), with the retriever of its
    ``context.json`` (or ``retriever``)."""
    if not (Path(model_dir) / JOB_PRIOR_FILE).is_file():
        return None
    if retriever is None:
        from careerpath.core.context import retriever_for

        retriever = retriever_for(model_dir, catalog)
    return JobPrior.load(model_dir, retriever)


class JobPriorProcessor(LogitsProcessor):
    """Adds the job prior to ``generate`` at the step after ``next_job:``: the course the decoder
    has just written (and whether it wrote skills gained: an abandoned course teaches nothing)
    picks P(next job | that course) from each row's :class:`JobTable`; the next token is then a
    job, scored ``model_scale`` x the model's log-prob + log prior, as catalog scoring does."""

    def __init__(self, prior: JobPrior, tokenizer, texts: list[str], num_beams: int = 1):
        from careerpath.model.scoring import job_token_ids

        tokens = job_token_ids(tokenizer, [prior.catalog.jobs[j].title for j in prior.job_ids[:-1]] + [STAY])
        if tokens is None:
            raise ValueError("the job prior needs one token per job name (the tiny T5's catalog tokens)")
        self.prior, self.tok, self.num_beams = prior, tokenizer, num_beams
        self.tables = [prior.for_text(t) for t in texts]
        self.tokens = torch.tensor(tokens, dtype=torch.long)
        self.course_by_title = {c.title: i for i, c in enumerate(prior.catalog.courses.values())}

    def _bias(self, row: int, text: str) -> np.ndarray:
        table = self.tables[row // self.num_beams]
        try:
            step = parse_target(text + " " + STAY)
        except ValueError:
            return np.log(np.maximum(table.now, 1e-300))
        course = self.course_by_title.get(step.next_course)
        p = table.given_taught(course) if course is not None and step.skills_gained else table.now
        return np.log(np.maximum(p, 1e-300))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        texts = self.tok.batch_decode(input_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        rows = [r for r, t in enumerate(texts) if t.rstrip().endswith("next_job:")]
        if not rows:
            return scores
        scores = scores.clone()
        tokens = self.tokens.to(scores.device)
        for r in rows:
            model_lp = torch.log_softmax(scores[r].float(), dim=-1)[tokens]
            bias = torch.as_tensor(
                self._bias(r, texts[r].rstrip()), dtype=torch.float32, device=scores.device
            )
            z = torch.log_softmax(self.prior.model_scale * model_lp + bias, dim=-1)
            scores[r] = torch.finfo(scores.dtype).min
            scores[r, tokens] = z.to(scores.dtype)
        return scores
