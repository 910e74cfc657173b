"""The long reliability runs of issue 11: full fuzzing and concurrent feedback writes.

    python benchmarks/reliability.py                      # 10,000 inputs per fuzz target, 20 x 1,000 events
    python benchmarks/reliability.py --examples 2000 --skip-feedback
    python benchmarks/reliability.py --skip-fuzz --threads 20 --events 1000

Each fuzz target of tests/test_fuzz.py runs in its own pytest process with
``CAREERPATH_FUZZ_EXAMPLES`` set; the feedback run has ``--threads`` threads, each with its own
``FeedbackStore`` on one SQLite file, write ``--events`` events each, then checks that every event
is stored exactly once. Prints a summary table (markdown); ``--json PATH`` also writes it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FUZZ_TARGETS = [
    ("text format: parse any text", "test_fuzz_parsers_never_crash"),
    ("text format: clean values round-trip", "test_fuzz_clean_values_round_trip"),
    ("text format: serialise refuses or round-trips", "test_fuzz_serialise_refuses_or_round_trips"),
    ("text format: non-string input", "test_fuzz_parsers_refuse_non_strings_clearly"),
    ("profile resolver: free text + follow-ups", "test_fuzz_resolver_free_text"),
    ("profile resolver: form fields, wrong types", "test_fuzz_resolver_fields"),
    ("profile resolver: non-string text", "test_fuzz_resolver_refuses_non_text_clearly"),
    ("chat handler: messages + forms, 1-4 turns", "test_fuzz_chat_handler"),
    ("catalog: garbled CSV/JSON/JSONL files", "test_fuzz_catalog_garbled_files"),
    ("catalog: wrong values and types", "test_fuzz_catalog_wrong_values_and_types"),
    ("catalog: random file content", "test_fuzz_catalog_random_file_content"),
]


def run_fuzz(examples: int, only: list[str] | None) -> list[dict]:
    env = {**os.environ, "CAREERPATH_FUZZ_EXAMPLES": str(examples), "PYTHONPATH": str(ROOT)}
    results = []
    for label, test in FUZZ_TARGETS:
        if only and not any(o in test for o in only):
            continue
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"tests/test_fuzz.py::{test}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        ok = proc.returncode == 0
        results.append(
            {"target": label, "test": test, "examples": examples, "seconds": round(seconds, 1), "ok": ok}
        )
        print(f"{'PASS' if ok else 'FAIL'} {label}: {examples} inputs in {seconds:.1f} s", flush=True)
        if not ok:
            print(proc.stdout[-6000:], proc.stderr[-2000:], sep="\n", flush=True)
    return results


def run_feedback(threads: int, events: int) -> dict:
    from careerpath.data.feedback import FeedbackEvent, FeedbackStore

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fb.sqlite"
        FeedbackStore(path)
        errors: list[BaseException] = []
        barrier = threading.Barrier(threads)

        def writer(t: int) -> None:
            store = FeedbackStore(path)
            barrier.wait()
            try:
                for i in range(events):
                    store.add(
                        FeedbackEvent(
                            session_id=f"s{t}",
                            item_kind="course",
                            item_id=f"c-{i % 50}",
                            rating=1 if i % 3 else -1,
                            profile={"job": "data-analyst", "skills": ["sql"]},
                            shown=[f"c-{i % 50}", "data-scientist"],
                            event_id=f"{t}-{i}",
                        )
                    )
            except BaseException as e:  # reported below
                errors.append(e)
            finally:
                store.close()

        pool = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
        start = time.perf_counter()
        for th in pool:
            th.start()
        for th in pool:
            th.join()
        seconds = time.perf_counter() - start
        rows = FeedbackStore(path).rows()
        counts = Counter(r["event_id"] for r in rows)
        expected = {f"{t}-{i}" for t in range(threads) for i in range(events)}
        return {
            "threads": threads,
            "events_per_thread": events,
            "stored": len(rows),
            "distinct": len(counts),
            "duplicates": sum(1 for c in counts.values() if c > 1),
            "missing": len(expected - set(counts)),
            "errors": [repr(e) for e in errors[:5]],
            "seconds": round(seconds, 1),
            "events_per_s": round(len(rows) / seconds, 1),
            "ok": not errors and set(counts) == expected and all(c == 1 for c in counts.values()),
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=10_000, help="generated inputs per fuzz target")
    p.add_argument("--only", nargs="*", default=None, help="fuzz targets whose test name contains these")
    p.add_argument("--threads", type=int, default=20)
    p.add_argument("--events", type=int, default=1000, help="feedback events per thread")
    p.add_argument("--skip-fuzz", action="store_true")
    p.add_argument("--skip-feedback", action="store_true")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    fuzz = [] if args.skip_fuzz else run_fuzz(args.examples, args.only)
    feedback = None if args.skip_feedback else run_feedback(args.threads, args.events)

    print("\n| check | inputs | seconds | result |\n|---|---|---|---|")
    for r in fuzz:
        print(
            f"| fuzz {r['target']} | {r['examples']:,} | {r['seconds']} | {'pass' if r['ok'] else 'FAIL'} |"
        )
    if feedback:
        f = feedback
        n = f["threads"] * f["events_per_thread"]
        result = (
            f"{f['stored']:,} stored, {f['duplicates']} duplicated, {f['missing']} missing, "
            f"{f['events_per_s']:,} events/s"
        )
        print(
            f"| feedback {f['threads']} threads x {f['events_per_thread']:,} | {n:,} | {f['seconds']} | "
            f"{result}{'' if f['ok'] else ' FAIL ' + '; '.join(f['errors'])} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"fuzz": fuzz, "feedback": feedback}, indent=1) + "\n")
    ok = all(r["ok"] for r in fuzz) and (feedback is None or feedback["ok"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
