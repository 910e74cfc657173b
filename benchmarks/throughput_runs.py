"""The throughput benchmark's runs (benchmarks/train_throughput.py, parent process): their order,
failures (``--keep-going``), SIGTERM (what finished is still reported) and the JSON written after
every run."""

from __future__ import annotations

import json
from pathlib import Path

from throughput_report import summarise


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stopped(Exception):
    """SIGTERM (``timeout`` in gpu_check.sh) while runs were left: what finished is still reported."""


def plan(args) -> list[tuple[int, str, int, str, str]]:
    """The runs in order: (repeat, implementation, processes, variant, compile mode). Each repeat
    runs the eager rows of every variant first, then the compiled ones (slow to start: if time runs
    out, it runs out on them); careerpath and the peer alternate their order from one repeat to the next."""
    impls = [("careerpath", n, mode) for mode in args.compile for n in args.procs]
    impls += [] if args.no_peer else [("trainer", 1, "no")]
    runs = []
    for rep in range(args.repeats):
        for compiled in (False, True):
            for variant in args.variants:
                group = [i for i in impls if (i[2] != "no") == compiled]
                runs += [
                    (rep, impl, n, variant, mode)
                    for impl, n, mode in (group if rep % 2 == 0 else group[::-1])
                ]
    return runs


def run_name(impl: str, procs: int, variant: str, mode: str) -> str:
    return f"{impl} x{procs}/{variant}" + ("" if mode == "no" else f"/compiled:{mode}")


def measure(args, child, on_run=None) -> tuple[list[dict], dict]:
    """Run every (implementation, processes, variant, compile mode) ``args.repeats`` times in
    :func:`plan`'s order, each through ``child(args, impl, procs, variant, mode, profile=...)`` (a
    fresh process); ``on_run(results)`` after each. With ``args.keep_going``, a run that fails
    is reported (``args.failed``) and the others go on; its row has only the runs that worked, or
    none. :class:`Stopped` (SIGTERM) ends the runs early; ``args.stopped`` says so."""
    results: dict[tuple[str, int, str, str], list[dict]] = {}
    args.failed, args.stopped = [], False
    current = "before the first run"
    try:
        for rep, impl, procs, variant, mode in plan(args):
            key = (impl, procs, variant, mode)
            current = f"[{rep + 1}/{args.repeats}] {run_name(*key)}"
            try:
                r = child(
                    args, impl, procs, variant, mode, profile=bool(args.profile) and not results.get(key)
                )
            except RuntimeError as err:
                if not getattr(args, "keep_going", False):
                    raise
                print(f"[{rep + 1}/{args.repeats}] FAILED, going on: {err}", flush=True)
                args.failed.append(run_name(*key))
                continue
            results.setdefault(key, []).append(r)
            print(
                f"[{rep + 1}/{args.repeats}] {impl:10s} x{procs} {variant:4s} {mode:7s} {r['examples_per_s']:8.1f} ex/s "
                f"{r['tokens_per_s']:10,.0f} tok/s  loss {r['final_loss']}",
                flush=True,
            )
            if on_run is not None:
                on_run(results)
    except Stopped:  # the running child, if any, was killed by subprocess.run on the way out
        print(f"stopped (SIGTERM) at {current}", flush=True)
        args.stopped = True
    return summarise(results), results


def stop_on_signal(signum, frame):
    raise Stopped()


def write_json(path: str, results: dict, complete: bool) -> None:
    """The rows and runs so far; written after every run, so a run cut short leaves the others'."""
    data = {
        "complete": complete,
        "rows": summarise(results),
        "runs": {run_name(*k): v for k, v in results.items()},
    }
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)
