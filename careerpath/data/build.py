"""``careerpath data build``: catalog -> progression -> synthetic trajectories -> text dataset on disk.

Writes ``train.jsonl``, ``validation.jsonl``, ``test.jsonl`` (split by user), ``stats.json`` (sizes
and the oracle ceiling per split), a dataset card ``README.md``, the cleaning report and a copy of
the catalog. Everything is written into a temporary folder beside the target and renamed into
place at the end, so an interrupted build never leaves a half dataset.

The settings are :mod:`careerpath.data.build_config`; the oracle tallies, progression.json and the dataset
card are :mod:`careerpath.data.build_stats`. Here: users in chunks (in worker processes), the build, and
the shards a sharded build writes and :func:`merge_shards` joins.
"""

from __future__ import annotations

import gc
import json
import mmap
import multiprocessing
import os
import shutil
import time
from collections import deque
from pathlib import Path

import numpy as np
from tqdm import tqdm

from careerpath.core.atomic import atomic_dir
from careerpath.core.catalog_reader import load_catalog
from careerpath.core.context import GapRetriever, save_context_config
from careerpath.core.progression import Progression
from careerpath.core.streamfile import StreamWriter
from careerpath.data.build_config import DataConfig, load_data_config, stats_config
from careerpath.data.build_stats import _Oracle, dataset_card, pack_oracle, progression_dump
from careerpath.data.splits import SPLITS
from careerpath.data.synthesis import Synthesiser
from careerpath.data.synthesis_config import SynthesisConfig
from careerpath.data.synthesis_numeric import uniforms
from careerpath.data.synthesis_oracle import oracle_values
from careerpath.data.synthesis_rows import RowWriter

__all__ = [
    "CHUNK_USERS",
    "SPLITS",
    "DataConfig",
    "SynthesisConfig",
    "_Oracle",
    "build_dataset",
    "dataset_card",
    "default_workers",
    "load_data_config",
    "merge_shards",
    "shard_range",
    "stats_config",
]

SPLIT_STEP = 1 << 21  # the step code of the split draw (synthesis uses 0..max_steps and 2^20+k)


def _splits_of(users: np.ndarray, seed: int, shares: dict[str, float]) -> list[str]:
    """The split of each user: a counter-based draw per user (see ``synthesis.uniforms``)."""
    u = uniforms(seed, users, SPLIT_STEP, 0)
    edges = np.cumsum([shares[name] for name in SPLITS])
    return [SPLITS[k] for k in np.minimum(np.searchsorted(edges, u, side="right"), len(SPLITS) - 1).tolist()]


def default_workers() -> int:
    """One worker per CPU core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


CHUNK_USERS = 256  # users per task given to a worker (a few tasks ahead of the writer at most)
CHUNKS_AHEAD = 3  # tasks per worker sent ahead of the writer


class ChunkBuffers:
    """Where chunks' rows go as UTF-8: ``count`` buffers of ``size`` bytes (anonymous shared
    mmaps, so worker processes forked after them write into the memory the writer reads).

    A chunk's splits are written line by line into its buffer, one after the other, and only
    their spans go back through the results pipe. Before, each chunk's text went as one joined
    and encoded ``bytes`` through pickle and the pipe, into a ``BytesIO`` and out of it again:
    reading the pipe was the writing process's largest cost, and moving the bytes through it the
    workers' largest system CPU (docs/data_build.md). A chunk that does not fit (a catalog with
    much longer rows) goes the old way. The caller makes sure a buffer is not written while its
    last chunk is still being read."""

    SIZE = 32 << 20  # bytes per buffer: a default chunk of 256 users is about 11 MB

    def __init__(self, count: int, size: int | None = None):
        self.size = size or self.SIZE
        self.buffers = [mmap.mmap(-1, self.size) for _ in range(count)]

    def write(self, slot: int, texts: dict[str, list[str]]) -> dict[str, tuple[int, int]] | None:
        """Write each split's lines into buffer ``slot``: their (start, end) byte offsets, or
        None (and nothing usable written) when they do not fit."""
        buf, spans = self.buffers[slot], {}
        buf.seek(0)
        write = buf.write
        try:
            for split, lines in texts.items():
                start = buf.tell()
                for line in lines:
                    write(line.encode("utf-8"))
                spans[split] = (start, buf.tell())
        except ValueError:  # past the end of the buffer
            return None
        return spans

    def close(self) -> None:
        for buf in self.buffers:
            buf.close()


def _write_chunk(handle: StreamWriter, chunk: dict, split: str, buffers: ChunkBuffers | None) -> None:
    """Write a chunk's rows of ``split`` (from its buffer when it went into one)."""
    if chunk["text"] is not None:
        handle.write(chunk["text"][split])
        return
    lo, hi = chunk["spans"][split]
    with memoryview(buffers.buffers[chunk["slot"]]) as view:
        handle.write(view[lo:hi])


def _users_chunk(
    synth: Synthesiser,
    writer: RowWriter,
    cfg: DataConfig,
    start: int,
    stop: int,
    buffers: ChunkBuffers | None = None,
    slot: int = 0,
) -> dict:
    """Users ``start..stop`` as JSONL text and oracle values per split, in user order: the text
    written into buffer ``slot`` of ``buffers`` when given and it fits, else returned as bytes."""
    lines: dict[str, list[str]] = {s: [] for s in SPLITS}
    oracle: dict[str, list] = {s: [] for s in SPLITS}
    users = {s: 0 for s in SPLITS}
    size = min(cfg.batch_users, synth.batch_limit())  # large catalogs: smaller batches, same users
    gc_was_on = gc.isenabled()
    gc.disable()  # many small objects and no cycles: the collector would only scan them, often
    try:
        for lo in range(start, stop, size):
            ids = np.arange(lo, min(stop, lo + size))
            splits = _splits_of(ids, cfg.synthesis.seed, cfg.split)
            made = synth.batch_rows(ids, writer)  # the rows without events, where the writer can
            if made is None:
                made = [
                    (list(map(writer.line, events)), list(map(oracle_values, events)))
                    for events in synth.batch(ids, dicts=False)
                ]
            for split, (rows, values) in zip(splits, made):
                users[split] += bool(rows)
                lines[split].extend(rows)
                oracle[split].extend(values)
    finally:
        if gc_was_on:
            gc.enable()
    spans = buffers.write(slot, lines) if buffers is not None else None
    return {
        "users": users,
        # encoded here, in the worker, when the chunk did not go into a buffer
        "text": None if spans is not None else {s: "".join(v).encode("utf-8") for s, v in lines.items()},
        "slot": slot,
        "spans": spans,
        "rows": {s: len(v) for s, v in lines.items()},
        "oracle": {s: pack_oracle(v) for s, v in oracle.items()},  # arrays: cheap to send and to add
        "count": stop - start,
    }


_WORKER: tuple | None = None


def _worker_init(
    synth: Synthesiser, writer: RowWriter, cfg: DataConfig, buffers: ChunkBuffers | None
) -> None:
    global _WORKER
    _WORKER = (synth, writer, cfg, buffers)


def _worker_chunk(start: int, stop: int, slot: int) -> dict:
    return _users_chunk(*_WORKER[:3], start, stop, _WORKER[3], slot)


def _chunks(
    synth: Synthesiser,
    writer: RowWriter,
    cfg: DataConfig,
    workers: int,
    first: int,
    stop: int,
    buffers: ChunkBuffers | None = None,
):
    """The chunks of users ``first..stop`` in order, made here or by ``workers`` processes (at
    most a few chunks ahead of the writer, so memory stays flat). With ``buffers`` (at least
    :func:`buffers_needed` of them), a chunk's text may be in its buffer: read it before asking
    for the next chunk (and only here or in processes forked after the buffers were made)."""
    bounds = [(s, min(stop, s + CHUNK_USERS)) for s in range(first, stop, CHUNK_USERS)]
    if workers <= 1 or len(bounds) <= 1:
        for start, stop in bounds:
            yield _users_chunk(synth, writer, cfg, start, stop, buffers, 0)
        return
    methods = multiprocessing.get_all_start_methods()
    forked = "fork" in methods
    ctx = multiprocessing.get_context("fork" if forked else "spawn")
    ahead = CHUNKS_AHEAD * workers
    # task k writes into buffer k % (ahead + 1): task k is sent once chunk k - ahead - 1 was read
    # (the generator resumed after it), the last one written into that buffer
    shared = buffers if forked and buffers is not None and len(buffers.buffers) > ahead else None
    with ctx.Pool(min(workers, len(bounds)), _worker_init, (synth, writer, cfg, shared)) as pool:
        _widen_results_pipe(pool)
        pending: deque = deque()
        todo = enumerate(bounds)
        for k, (start, stop) in todo:
            pending.append(pool.apply_async(_worker_chunk, (start, stop, k % (ahead + 1))))
            if len(pending) >= ahead:
                break
        while pending:
            chunk = pending.popleft().get()
            for k, (start, stop) in todo:
                pending.append(pool.apply_async(_worker_chunk, (start, stop, k % (ahead + 1))))
                break
            yield chunk


def buffers_needed(workers: int) -> int:
    """How many :class:`ChunkBuffers` :func:`_chunks` needs for ``workers`` processes."""
    return CHUNKS_AHEAD * workers + 1 if workers > 1 else 1


def _widen_results_pipe(pool, size: int = 1 << 20) -> None:
    """Give the pipe the workers' results come back through a 1 MiB buffer instead of Linux's
    64 KiB: each chunk's oracle values (hundreds of KB), and its rows (tens of MB) when they did
    not fit a :class:`ChunkBuffers` buffer, with 16 times fewer wake-ups of both ends. Moving
    860 MB through it cost 3.6 s of system CPU on the benchmarks' 2-core VM, 1.2 s with this. Where
    the OS or its limit (``/proc/sys/fs/pipe-max-size``) refuses it, or the pool is built otherwise
    (``_outqueue`` is CPython's), the pipe stays as it is."""
    try:
        import fcntl

        fcntl.fcntl(pool._outqueue._reader.fileno(), fcntl.F_SETPIPE_SZ, size)
    except (ImportError, AttributeError, OSError):
        pass


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
        handles = {s: StreamWriter(tmp / f"{s}.jsonl") for s in SPLITS}  # gigabytes: past the page cache
        workers = cfg.workers or default_workers()
        buffers = ChunkBuffers(buffers_needed(workers))
        try:
            retriever = GapRetriever(catalog, prog, cfg.context) if cfg.context.enabled else None
            chunks = _chunks(synth, RowWriter(catalog, retriever), cfg, workers, first, stop, buffers)
            bar = tqdm(total=stop - first, desc="synthesising users", unit="user", disable=not progress)
            for chunk in chunks:
                for split in SPLITS:
                    users[split] += chunk["users"][split]
                    counts[split] += chunk["rows"][split]
                    _write_chunk(handles[split], chunk, split, buffers)
                    if kept is not None:
                        kept[split].append(chunk["oracle"][split])
                    else:
                        pack = chunk["oracle"][split]
                        oracles[split].add_rows(pack["values"], pack["move"], pack["numpy"])
                bar.update(chunk["count"])
            bar.close()
        finally:
            for h in handles.values():
                h.close()
            buffers.close()
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
    (tmp / "progression.json").write_text(json.dumps(progression_dump(prog), indent=1) + "\n")
    (tmp / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    (tmp / "README.md").write_text(dataset_card(stats, cfg))
    return stats


SHARD_FILE = "shard.json"


def _save_shard(tmp: Path, cfg, shard, bounds, users, counts, kept: dict) -> None:
    """A shard's oracle values (one row of 10 numbers per example, NaN-padded for stays) and
    what the merge checks: which shard of how many, its users, and the config."""
    arrays = {}
    for split in SPLITS:
        packs = kept[split] or [pack_oracle([])]
        for name in ("values", "move", "numpy"):
            arrays[f"{split}_{name}"] = np.concatenate([p[name] for p in packs])
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
            with StreamWriter(tmp / f"{split}.jsonl") as dst:
                for _, folder in tqdm(infos, desc=f"merging {split}", disable=not progress):
                    with open(folder / f"{split}.jsonl", "rb") as src:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    with np.load(folder / "oracle.npz") as z:
                        oracles[split].add_rows(z[f"{split}_values"], z[f"{split}_move"], z[f"{split}_numpy"])
        stats = _finish(tmp, cfg, catalog, prog, users, counts, oracles)
    stats["seconds"] = round(time.time() - started, 2)
    return stats
