"""``careerpath data build``: catalog -> progression -> synthetic trajectories -> text dataset on disk.

Writes ``train.jsonl``, ``validation.jsonl``, ``test.jsonl`` (split by user), ``stats.json`` (sizes
and the oracle ceiling per split), a dataset card ``README.md``, the cleaning report and a copy of
the catalog. Everything is written into a temporary folder beside the target and renamed into
place at the end, so an interrupted build never leaves a half dataset.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import shutil
import time
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from careerpath.atomic import atomic_dir
from careerpath.config import check_keys, read_yaml
from careerpath.splits import SPLITS
from data_prep.catalog import BUNDLED_DIR, load_catalog
from data_prep.context import ContextConfig, GapRetriever, save_context_config
from data_prep.progression import Progression
from data_prep.synthesis import Synthesiser
from data_prep.synthesis_config import PreferenceType, SynthesisConfig
from data_prep.synthesis_numeric import uniforms
from data_prep.synthesis_oracle import argmax_key, oracle_values
from data_prep.synthesis_rows import RowWriter
from data_prep.textformat import STAY

SPLIT_STEP = 1 << 21  # the step code of the split draw (synthesis uses 0..max_steps and 2^20+k)


@dataclass
class DataConfig:
    """Settings of ``careerpath data build`` (configs/data/*.yaml)."""

    catalog: str | None = None
    """Catalog folder (CSV/JSON); empty for the bundled catalog."""
    split: dict[str, float] = field(default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1})
    """Share of users in each split; no user is in two splits."""
    n_next_jobs: int = 5
    """Next jobs per job in the transition graph."""
    n_courses_per_job: int = 10
    """Relevant courses listed per job."""
    fuzzy_threshold: float = 90.0
    """rapidfuzz ratio at or above which two skill names are merged as near-duplicates."""
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)
    """How synthetic users behave (see data_prep/synthesis.py)."""
    context: ContextConfig = field(default_factory=ContextConfig)
    """Catalog context in every input text: next step and candidate courses (data_prep/context.py)."""
    workers: int | None = None
    """Processes generating users (null: one per CPU core). The output is the same for any value
    (user i depends only on the seed and i); not written to stats.json."""
    batch_users: int = 256
    """Users generated together as one batch of arrays (more: faster, more memory). The output is
    the same for any value; not written to stats.json."""


def _section(raw: dict, name: str, cls, path) -> dict:
    """``raw[name]`` (popped), refusing keys ``cls`` does not have, by name."""
    values = dict(raw.pop(name, {}) or {})
    check_keys(values, cls, str(path), what=f"{name} key")
    return values


def load_data_config(path: str | Path | None, overrides: dict | None = None) -> DataConfig:
    """Read a data config YAML; unknown keys are an error naming the key."""
    raw = read_yaml(path) if path else {}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if "." in key:  # "synthesis.users" from --synthesis.users on the command line
            section, _, name = key.partition(".")
            target = raw.setdefault(section, {})
            if not isinstance(target, dict):
                raise ValueError(f"{path}: {section} is not a section; cannot set {key}")
            target[name] = value
        elif key in {f.name for f in fields(SynthesisConfig)}:
            raw.setdefault("synthesis", {})[key] = value
        else:
            raw[key] = value
    check_keys(raw, DataConfig, str(path))
    ctx = _section(raw, "context", ContextConfig, path)
    syn = _section(raw, "synthesis", SynthesisConfig, path)
    if "types" in syn:
        syn["types"] = tuple(PreferenceType(**t) for t in syn["types"])
    try:
        context = ContextConfig(**ctx)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    cfg = DataConfig(**raw, synthesis=SynthesisConfig(**syn), context=context)
    total = sum(cfg.split.values())
    if set(cfg.split) != set(SPLITS) or abs(total - 1.0) > 1e-6:
        raise ValueError(
            f"{path}: split must give train, validation and test shares summing to 1, got {cfg.split}"
        )
    if cfg.synthesis.users < 1:
        raise ValueError(f"{path}: synthesis.users must be at least 1")
    if cfg.workers is not None and (not isinstance(cfg.workers, int) or cfg.workers < 1):
        raise ValueError(f"{path}: workers must be a positive integer or null, got {cfg.workers!r}")
    if (
        not isinstance(cfg.batch_users, int)
        or isinstance(cfg.batch_users, bool)
        or not 1 <= cfg.batch_users <= 100_000
    ):
        raise ValueError(f"{path}: batch_users must be an integer in [1, 100000], got {cfg.batch_users!r}")
    return cfg


def _splits_of(users: np.ndarray, seed: int, shares: dict[str, float]) -> list[str]:
    """The split of each user: a counter-based draw per user (see ``synthesis.uniforms``)."""
    u = uniforms(seed, users, SPLIT_STEP, 0)
    edges = np.cumsum([shares[name] for name in SPLITS])
    return [SPLITS[k] for k in np.minimum(np.searchsorted(edges, u, side="right"), len(SPLITS) - 1).tolist()]


class _Oracle:
    """Running tallies of the oracle ceiling: realised and expected accuracy of the argmax.

    Each tally is a running sum in row order. The original summed numpy floats for the expected
    next-job accuracy (the job probabilities were numpy floats), so those sums are rounded as numpy
    floats (``round`` of a numpy float rounds differently from Python's in rare cases).
    """

    KEYS = ("next_course", "next_course_expected", "next_job", "next_job_expected", "next_job_moves")

    def __init__(self) -> None:
        self.n = self.moves = 0
        self.sums: dict[str, float] = {}
        self.numpy_keys: set[str] = set()

    def add(self, row: dict) -> None:
        is_move = row["next_job_id"] != STAY
        values = []
        numpy_job = False
        for probs in (row["probs_visible"], row["probs"]):
            for target, key in (("next_course", "course"), ("next_job", "job")):
                gold = row[f"{target}_id"]
                values.append(float(argmax_key(probs[key]) == gold))
                top = max(probs[key].values())
                numpy_job |= key == "job" and type(top) is not float
                values.append(float(top))
            if is_move:
                values.append(float(argmax_key(probs["job"]) == row["next_job_id"]))
        self.add_values(is_move, values, numpy_job)

    def add_values(self, is_move: bool, values: list[float], numpy_job: bool) -> None:
        """One row, from :func:`oracle_values` (same order as :meth:`add`)."""
        self.n += 1
        self.moves += is_move
        sums = self.sums
        for key, value in zip(_MOVE_KEYS if is_move else _STAY_KEYS, values):
            sums[key] = sums.get(key, 0.0) + value
        if numpy_job:
            self.numpy_keys.update(("visible/next_job_expected", "traits_known/next_job_expected"))

    def result(self) -> dict:
        out: dict[str, dict[str, float]] = {}
        for key, total in sorted(self.sums.items()):
            tag, name = key.split("/")
            denom = self.moves if name == "next_job_moves" else self.n
            if key in self.numpy_keys:
                total = np.float64(total)
            out.setdefault(tag, {})[name] = round(total / denom, 4) if denom else 0.0
        return out


_MOVE_KEYS = [f"{tag}/{name}" for tag in ("visible", "traits_known") for name in _Oracle.KEYS]
_STAY_KEYS = [f"{tag}/{name}" for tag in ("visible", "traits_known") for name in _Oracle.KEYS[:4]]


def stats_config(cfg: DataConfig) -> dict:
    """The config as stats.json records it: everything that decides the bytes (not ``workers``
    nor ``batch_users``)."""
    return _jsonable({k: v for k, v in asdict(cfg).items() if k not in ("workers", "batch_users")})


def default_workers() -> int:
    """One worker per CPU core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


CHUNK_USERS = 256  # users per task given to a worker (a few tasks ahead of the writer at most)


def _users_chunk(synth: Synthesiser, writer: RowWriter, cfg: DataConfig, start: int, stop: int) -> dict:
    """Users ``start..stop`` as JSONL text and oracle values per split, in user order."""
    lines: dict[str, list[str]] = {s: [] for s in SPLITS}
    oracle: dict[str, list] = {s: [] for s in SPLITS}
    users = {s: 0 for s in SPLITS}
    size = min(cfg.batch_users, synth.batch_limit())  # large catalogs: smaller batches, same users
    gc_was_on = gc.isenabled()
    gc.disable()  # many small objects and no cycles: the collector would only scan them, often
    try:
        for lo in range(start, stop, size):
            ids = np.arange(lo, min(stop, lo + size))
            for split, events in zip(_splits_of(ids, cfg.synthesis.seed, cfg.split), synth.batch(ids)):
                users[split] += bool(events)
                lines[split].extend(map(writer.line, events))
                oracle[split].extend(map(oracle_values, events))
    finally:
        if gc_was_on:
            gc.enable()
    return {
        "users": users,
        "text": {s: "".join(v).encode("utf-8") for s, v in lines.items()},  # encoded here, in the worker
        "rows": {s: len(v) for s, v in lines.items()},
        "oracle": oracle,
        "count": stop - start,
    }


_WORKER: tuple | None = None


def _worker_init(synth: Synthesiser, writer: RowWriter, cfg: DataConfig) -> None:
    global _WORKER
    _WORKER = (synth, writer, cfg)


def _worker_chunk(start: int, stop: int) -> dict:
    return _users_chunk(*_WORKER, start, stop)


def _chunks(synth: Synthesiser, writer: RowWriter, cfg: DataConfig, workers: int, first: int, stop: int):
    """The chunks of users ``first..stop`` in order, made here or by ``workers`` processes (at
    most a few chunks ahead of the writer, so memory stays flat)."""
    bounds = [(s, min(stop, s + CHUNK_USERS)) for s in range(first, stop, CHUNK_USERS)]
    if workers <= 1 or len(bounds) <= 1:
        for start, stop in bounds:
            yield _users_chunk(synth, writer, cfg, start, stop)
        return
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ctx.Pool(min(workers, len(bounds)), _worker_init, (synth, writer, cfg)) as pool:
        pending: deque = deque()
        todo = iter(bounds)
        for start, stop in todo:
            pending.append(pool.apply_async(_worker_chunk, (start, stop)))
            if len(pending) >= 3 * workers:
                break
        while pending:
            chunk = pending.popleft().get()
            for start, stop in todo:
                pending.append(pool.apply_async(_worker_chunk, (start, stop)))
                break
            yield chunk


def shard_range(users: int, shard: int, of: int) -> tuple[int, int]:
    """The users of shard ``shard`` (0-based) of ``of``: a contiguous range."""
    if not (isinstance(of, int) and isinstance(shard, int) and of >= 1 and 0 <= shard < of):
        raise ValueError(f"shard must be K/N with 0 <= K < N, got {shard}/{of}")
    return users * shard // of, users * (shard + 1) // of


def build_dataset(
    cfg: DataConfig, out: str | Path, progress: bool = True, shard: tuple[int, int] | None = None
) -> dict:
    """Build the dataset into ``out`` atomically and return its stats.

    ``shard=(K, N)``: only the K-th of N contiguous ranges of users, as a shard folder (rows and
    their oracle values, no stats) that :func:`merge_shards` joins with the others into the
    dataset a single build writes, byte for byte."""
    started = time.time()
    out = Path(out)
    first, stop = shard_range(cfg.synthesis.users, *shard) if shard else (0, cfg.synthesis.users)
    catalog = load_catalog(cfg.catalog, fuzzy_threshold=cfg.fuzzy_threshold)
    prog = Progression(catalog, n_next=cfg.n_next_jobs, n_courses=cfg.n_courses_per_job)
    synth = Synthesiser(catalog, prog, cfg.synthesis, cfg.context)
    with atomic_dir(out) as tmp:
        counts = {s: 0 for s in SPLITS}
        users = {s: 0 for s in SPLITS}
        oracles = {s: _Oracle() for s in SPLITS}
        kept: dict[str, list] | None = {s: [] for s in SPLITS} if shard else None
        handles = {s: open(tmp / f"{s}.jsonl", "wb") for s in SPLITS}
        try:
            workers = cfg.workers or default_workers()
            retriever = GapRetriever(catalog, prog, cfg.context) if cfg.context.enabled else None
            chunks = _chunks(synth, RowWriter(catalog, retriever), cfg, workers, first, stop)
            bar = tqdm(total=stop - first, desc="synthesising users", unit="user", disable=not progress)
            for chunk in chunks:
                for split in SPLITS:
                    users[split] += chunk["users"][split]
                    counts[split] += chunk["rows"][split]
                    handles[split].write(chunk["text"][split])
                    if kept is not None:
                        kept[split].extend(chunk["oracle"][split])
                    else:
                        for values in chunk["oracle"][split]:
                            oracles[split].add_values(*values)
                bar.update(chunk["count"])
            bar.close()
        finally:
            for h in handles.values():
                h.close()
        if kept is not None:
            _save_shard(tmp, cfg, shard, (first, stop), users, counts, kept)
        else:
            stats = _finish(tmp, cfg, catalog, prog, users, counts, oracles)
    if kept is not None:
        return {
            "users": sum(users.values()),
            "users_per_split": users,
            "examples": counts,
            "shard": list(shard),
            "seconds": round(time.time() - started, 2),
        }
    stats["seconds"] = round(time.time() - started, 2)
    return stats


def _finish(tmp: Path, cfg: DataConfig, catalog, prog, users: dict, counts: dict, oracles: dict) -> dict:
    """Write stats.json, the dataset card, the catalog and the graph beside the rows in ``tmp``."""
    oracle = {s: oracles[s].result() for s in SPLITS}
    test = oracle["test"].get("visible", {})
    stats = {
        "users": sum(users.values()),
        "users_per_split": users,
        "examples": counts,
        "catalog": catalog.summary(),
        "oracle_acc": {k: test.get(k, 0.0) for k in ("next_course", "next_job", "next_job_moves")},
        "oracle_acc_traits_known": {
            k: oracle["test"].get("traits_known", {}).get(k, 0.0)
            for k in ("next_course", "next_job", "next_job_moves")
        },
        "oracle": oracle,
        "config": stats_config(cfg),
    }
    catalog.save(tmp / "catalog")
    (tmp / "cleaning_report.json").write_text(
        json.dumps([m.as_dict() for m in catalog.merges], indent=1) + "\n"
    )
    save_context_config(cfg.context, tmp, cfg.n_next_jobs, cfg.n_courses_per_job)
    (tmp / "progression.json").write_text(json.dumps(_progression_dump(prog), indent=1) + "\n")
    (tmp / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    (tmp / "README.md").write_text(dataset_card(stats, cfg))
    return stats


SHARD_FILE = "shard.json"


def _save_shard(tmp: Path, cfg, shard, bounds, users, counts, kept: dict) -> None:
    """A shard's oracle values (one row of 10 numbers per example, NaN-padded for stays) and
    what the merge checks: which shard of how many, its users, and the config."""
    arrays = {}
    for split in SPLITS:
        vals = np.full((len(kept[split]), 10), np.nan)
        for i, (_, values, _) in enumerate(kept[split]):
            vals[i, : len(values)] = values
        arrays[f"{split}_values"] = vals
        arrays[f"{split}_move"] = np.array([m for m, _, _ in kept[split]], dtype=bool)
        arrays[f"{split}_numpy"] = np.array([n for _, _, n in kept[split]], dtype=bool)
    with open(tmp / "oracle.npz", "wb") as f:
        np.savez(f, **arrays)
    info = {
        "shard": shard[0],
        "of": shard[1],
        "first_user": bounds[0],
        "stop_user": bounds[1],
        "users_per_split": users,
        "examples": counts,
        "config": stats_config(cfg),
    }
    (tmp / SHARD_FILE).write_text(json.dumps(info, indent=2) + "\n")


def merge_shards(folders: list[str | Path], out: str | Path, progress: bool = True) -> dict:
    """Join the shard folders of one config (every K of K/N, once) into the dataset a single
    build of that config writes (the same bytes), atomically into ``out``."""
    started = time.time()
    infos = []
    for folder in map(Path, folders):
        path = folder / SHARD_FILE
        if not path.is_file():
            raise ValueError(f"{folder}: not a shard folder (no {SHARD_FILE}); build shards with --shard K/N")
        infos.append((json.loads(path.read_text()), folder))
    infos.sort(key=lambda x: x[0]["shard"])
    of = {i["of"] for i, _ in infos}
    if len(of) != 1 or [i["shard"] for i, _ in infos] != list(range(next(iter(of)))):
        have = ", ".join(f"{i['shard']}/{i['of']}" for i, _ in infos)
        raise ValueError(f"need every shard K/N for K = 0..N-1 exactly once, got {have}")
    config = infos[0][0]["config"]
    for info, folder in infos:
        if info["config"] != config:
            raise ValueError(f"{folder}: built with another config than {infos[0][1]}; rebuild it")
    cfg = load_data_config(None, config)
    catalog = load_catalog(cfg.catalog, fuzzy_threshold=cfg.fuzzy_threshold)
    prog = Progression(catalog, n_next=cfg.n_next_jobs, n_courses=cfg.n_courses_per_job)
    out = Path(out)
    with atomic_dir(out) as tmp:
        users = {s: sum(i["users_per_split"][s] for i, _ in infos) for s in SPLITS}
        counts = {s: sum(i["examples"][s] for i, _ in infos) for s in SPLITS}
        oracles = {s: _Oracle() for s in SPLITS}
        for split in SPLITS:
            with open(tmp / f"{split}.jsonl", "wb") as dst:
                for _, folder in tqdm(infos, desc=f"merging {split}", disable=not progress):
                    with open(folder / f"{split}.jsonl", "rb") as src:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    with np.load(folder / "oracle.npz") as z:
                        vals, moves, numpy_job = z[f"{split}_values"], z[f"{split}_move"], z[f"{split}_numpy"]
                    for row, is_move, nj in zip(vals.tolist(), moves.tolist(), numpy_job.tolist()):
                        oracles[split].add_values(is_move, row[: 10 if is_move else 8], nj)
        stats = _finish(tmp, cfg, catalog, prog, users, counts, oracles)
    stats["seconds"] = round(time.time() - started, 2)
    return stats


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _progression_dump(prog: Progression) -> dict:
    return {
        "summary": prog.summary(),
        "next_jobs": {
            j: [{"job": b, "score": round(s, 3)} for b, s in moves] for j, moves in prog.next_jobs.items()
        },
        "job_courses": prog.job_courses,
    }


def dataset_card(stats: dict, cfg: DataConfig) -> str:
    """Dataset card with the Hub's YAML metadata."""
    n = sum(stats["examples"].values())
    size = (
        "1K<n<10K"
        if n < 10_000
        else "10K<n<100K"
        if n < 100_000
        else "100K<n<1M"
        if n < 1_000_000
        else "1M<n<10M"
    )
    bundled = not cfg.catalog or Path(cfg.catalog).resolve() == BUNDLED_DIR.resolve()
    meta = {
        "license": "apache-2.0" if bundled else "other",
        "language": ["en"],
        "pretty_name": "careerpath synthetic career trajectories",
        "task_categories": ["text2text-generation", "text-generation"],
        "tags": ["career", "recommendation", "synthetic", "careerpath"],
        "size_categories": [size],
        "configs": [
            {"config_name": "default", "data_files": [{"split": s, "path": f"{s}.jsonl"} for s in SPLITS]}
        ],
    }
    o, ok = stats["oracle_acc"], stats["oracle_acc_traits_known"]
    return (
        f"""---
{yaml.safe_dump(meta, sort_keys=False).strip()}
---

# careerpath synthetic career trajectories

Synthetic learners moving through a catalog of {stats["catalog"]["jobs"]} jobs, {stats["catalog"]["courses"]} courses
and {stats["catalog"]["skills"]} skills, generated by `careerpath data build` (seed {cfg.synthesis.seed}).
Each row is one step: what is known now (`input_text`) and what happens next (`target_text`): the
next course, the skills it adds, and whether the person moves job (`stay` when not).

No real person's data is in this dataset. Users are split by `user_id` (no user in two splits).

| split | users | examples |
|---|---|---|
"""
        + "".join(f"| {s} | {stats['users_per_split'][s]} | {stats['examples'][s]} |\n" for s in SPLITS)
        + f"""
## Oracle ceiling (test split)

The generator records the probability it gave every possible next event, so the best accuracy any
model could reach is known. Users have a hidden preference type; *from the text* is the
Bayes-optimal accuracy given the input text (the posterior over types from the history), *traits
known* is the upper bound with the type revealed.

| target | from the text | traits known |
|---|---|---|
| next course Acc@1 | {o["next_course"]} | {ok["next_course"]} |
| next job Acc@1 (all) | {o["next_job"]} | {ok["next_job"]} |
| next job Acc@1 (moves only) | {o["next_job_moves"]} | {ok["next_job_moves"]} |

## Fields

`input_text`, `target_text` (the careerpath text format), the structured fields behind them
(`goal`, `job`, `history`, `skills`, `courses`, `next_course`, `skills_gained`, `next_job` and their
`*_id` versions), groups for bias reports (`start_family`, `start_level`, `job_family`, `job_level`),
the hidden `user_type` (never in the input text) and the generator's probabilities `probs` (type
known) and `probs_visible` (given the text): courses at or above 0.001 under `course`, the summed
probability of all other courses under `course_other`, and next jobs under `job` (`stay` included).
"""
        + (
            "\nInputs end with catalog context (`next_step`, `best`, `options`, `ready_after`; ids in "
            "`next_step_id`, `best_ids`, `option_ids`, `ready_ids`): the route to the goal and the courses "
            "closing the most of the skill gap, made by careerpath's `data_prep/context.py` with the "
            "settings in `context.json`.\n"
            if cfg.context.enabled
            else ""
        )
    )
