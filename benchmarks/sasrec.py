"""RecBole's SASRec beside careerpath's model, on the same user-disjoint splits and the same test rows.

    python benchmarks/sasrec.py --python /tmp/rbenv/bin/python [--data outputs/data]
        [--careerpath-metrics outputs/report/metrics.json] [--work outputs/bench_sasrec]
        [--epochs 100] [--stopping-step 10] [--seed 2020] [--threads 1] [--goal-token] [--out FILE]

RecBole runs in its own virtualenv (a benchmark-only dependency, not in pyproject.toml):

    python3.11 -m venv /tmp/rbenv && /tmp/rbenv/bin/pip install torch==2.13.0 recbole==1.2.0 "pandas<3"

(RecBole 1.2.0 fails under pandas 3; see sasrec_driver.py for its numpy 2 and torch >= 2.6 shims.)

Steps:

1. ``careerpath data export --format recbole`` of ``--data`` into ``WORK/export`` (one event per
   course taken or job moved to, items ``course:<id>`` / ``job:<id>`` in one id space).
2. RecBole reads pre-split benchmark files as given (no augmentation), so each split's user
   sequences become next-event pairs ``(user, item_id_list, item_id)`` in ``WORK/recbole``: every
   prefix of every user's events with the event that followed (last ``max_len`` events kept).
   Train, validation and test stay user-disjoint, as careerpath's own splits.
3. ``sasrec_driver.py`` (under ``--python``) trains SASRec on the train pairs, with early stopping
   on validation MRR@10 (full ranking of all items), then scores the query sequences below.
4. The test rows are scored as careerpath scores them (``careerpath/core/metrics.py``,
   ``move_metrics``): on every row with a move, the destination ranked among the catalog's jobs
   (no "stay": not an item), Acc@1 / Hit@5 / Hit@10 / MRR with pessimistic ties. SASRec's input is
   the user's events before the row's step (history, courses taken, earlier moves): what the row's
   input holds. A second variant adds the course taken at that step (more than careerpath sees).
   Next course, on every row with one: ranked among the catalog's courses, completed courses masked
   (as careerpath masks them).

``--goal-token`` starts every user's sequence with a ``goal:<id>`` item: the goal careerpath's
input states in words, which an event sequence otherwise lacks.

Prints the table beside careerpath's figures from ``--careerpath-metrics`` (``careerpath evaluate``'s
metrics.json on the same test split) and writes ``benchmarks/results/sasrec.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from careerpath.app.recbole_export import export_recbole, read_recbole_sequences, row_queries  # noqa: E402
from careerpath.core.metrics import ranking_metrics  # noqa: E402
from careerpath.core.textformat import STAY  # noqa: E402
from careerpath.data.splits import load_split  # noqa: E402

SPLITS = ("train", "valid", "test")
NAME = "careerpath"
SEQ_HEADER = ["user_id:token", "item_id_list:token_seq", "item_id:token"]


def next_item_pairs(sequences: dict[str, list[str]], max_len: int) -> list[tuple[str, list[str], str]]:
    """Every ``(user, last max_len events before t, event t)`` for t >= 1: RecBole's own augmentation."""
    pairs = []
    for user in sorted(sequences):
        seq = sequences[user]
        for t in range(1, len(seq)):
            pairs.append((user, seq[max(0, t - max_len) : t], seq[t]))
    return pairs


def write_pairs(path: Path, pairs: list[tuple[str, list[str], str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(SEQ_HEADER)
        for user, history, item in pairs:
            w.writerow([user, " ".join(history), item])


def recbole_config(args: argparse.Namespace, data_path: Path) -> dict:
    """RecBole's SASRec defaults (2 layers, 2 heads, hidden 64, inner 256, dropout 0.5, CE loss, Adam
    1e-3) with the data settings this benchmark needs and CPU-sized training."""
    return {
        "data_path": str(data_path),
        "benchmark_filename": list(SPLITS),
        "alias_of_item_id": ["item_id_list"],  # one id space for the history and the target
        "load_col": {"inter": ["user_id", "item_id_list", "item_id"], "item": ["item_id", "type"]},
        "MAX_ITEM_LIST_LENGTH": args.max_len,
        "hidden_size": 64,
        "inner_size": 256,
        "n_layers": 2,
        "n_heads": 2,
        "hidden_dropout_prob": 0.5,
        "attn_dropout_prob": 0.5,
        "loss_type": "CE",
        "train_neg_sample_args": None,
        "learning_rate": 0.001,
        "train_batch_size": 256,
        "eval_batch_size": 1024,
        "epochs": args.epochs,
        "stopping_step": args.stopping_step,
        "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "TO", "mode": "full", "group_by": "user"},
        "metrics": ["Hit", "MRR"],
        "topk": [1, 10],
        "valid_metric": "MRR@10",
        "seed": args.seed,
        "reproducibility": True,
        "use_gpu": False,
        "device": "cpu",
        "show_progress": False,
        "worker": 0,
        "checkpoint_dir": "saved",
    }


def catalog_items(item_file: Path) -> tuple[list[str], list[str]]:
    """The exported catalog: (job tokens, course tokens) in file order."""
    jobs, courses = [], []
    with open(item_file, encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            kind = r["type:token"]
            if kind in ("job", "course"):
                (jobs if kind == "job" else courses).append(r["item_id:token"])
    return jobs, courses


def score_rows(
    rows: list[dict],
    query_index: dict[tuple[str, ...], int],
    scores: np.ndarray,
    columns: dict[str, int],
    jobs: list[str],
    courses: list[str],
    lead: dict[str, list[str]] | None = None,
) -> dict:
    """careerpath's move-destination and next-course metrics of SASRec's scores on the test rows.
    ``lead``: tokens put before each user's events (``--goal-token``), as in training."""
    job_cols = np.array([columns[j] for j in jobs])
    course_cols = np.array([columns[c] for c in courses])
    job_pos = {j: i for i, j in enumerate(jobs)}
    course_pos = {c: i for i, c in enumerate(courses)}
    dest = {"before": ([], []), "with_course": ([], [])}
    nc_scores, nc_gold, nc_mask = [], [], []
    lead = lead or {}
    for r, before, with_course in row_queries(rows):
        before = lead.get(r["user_id"], []) + before
        with_course = lead.get(r["user_id"], []) + with_course
        if r["next_job_id"] != STAY:
            gold = job_pos[f"job:{r['next_job_id']}"]
            for key, seq in (("before", before), ("with_course", with_course)):
                dest[key][0].append(scores[query_index[tuple(seq)], job_cols])
                dest[key][1].append(gold)
        if r.get("next_course_id"):
            nc_scores.append(scores[query_index[tuple(before)], course_cols])
            nc_gold.append(course_pos[f"course:{r['next_course_id']}"])
            mask = np.zeros(len(courses), dtype=bool)
            for c in r.get("course_ids") or []:
                if f"course:{c}" in course_pos:
                    mask[course_pos[f"course:{c}"]] = True
            nc_mask.append(mask)
    out = {}
    for key, (s, g) in dest.items():
        out[f"move_destination_{key}"] = ranking_metrics(np.array(s), np.array(g))
    out["next_course"] = ranking_metrics(np.array(nc_scores), np.array(nc_gold), np.array(nc_mask))
    return out


def check_python(python: str) -> str:
    """The RecBole interpreter's versions; a clear error when it cannot import RecBole."""
    code = (
        "import recbole, torch, numpy, pandas; "
        "print(recbole.__version__, torch.__version__, numpy.__version__, pandas.__version__)"
    )
    try:
        res = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300)
    except FileNotFoundError:
        res = None
    if res is None or res.returncode != 0:
        raise SystemExit(
            f"--python {python}: cannot import recbole and torch there "
            f"({res.stderr.strip().splitlines()[-1] if res and res.stderr.strip() else 'not found'}); "
            "make the venv: python3.11 -m venv /tmp/rbenv && "
            "/tmp/rbenv/bin/pip install torch==2.13.0 recbole==1.2.0 'pandas<3'"
        )
    versions = res.stdout.strip()
    if int(versions.split()[-1].split(".")[0]) >= 3:
        raise SystemExit(
            f"--python {python}: pandas {versions.split()[-1]}; RecBole 1.2.0 needs pandas < 3 "
            f"(`{python} -m pip install 'pandas<3'`)"
        )
    return versions


def careerpath_figures(path: Path) -> dict:
    metrics = json.loads(path.read_text())
    try:
        model = metrics["model"]
        return {"move_destination": model["move_destination"], "next_course": model["next_course"]}
    except KeyError as e:
        raise SystemExit(
            f"--careerpath-metrics {path}: no model.{e.args[0]}; use `careerpath evaluate`'s file"
        ) from None


def table(careerpath: dict, sasrec: dict, who: str = "SASRec") -> str:
    lines = [
        "| rows | model | n | Acc@1 | Hit@5 | Hit@10 | MRR |",
        "|---|---|---|---|---|---|---|",
    ]

    def line(what: str, who: str, m: dict) -> str:
        return (
            f"| {what} | {who} | {m['n']} | {m['acc@1']:.3f} | {m['hit@5']:.3f} | "
            f"{m['hit@10']:.3f} | {m['mrr']:.3f} |"
        )

    lines.append(line("move destination", "careerpath", careerpath["move_destination"]))
    lines.append(
        line("move destination", f"{who}, events before the step", sasrec["move_destination_before"])
    )
    lines.append(
        line(
            "move destination",
            f"{who}, + the step's course (more than careerpath sees)",
            sasrec["move_destination_with_course"],
        )
    )
    lines.append(line("next course", "careerpath", careerpath["next_course"]))
    lines.append(line("next course", f"{who}, events before the step", sasrec["next_course"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", default="outputs/data", help="careerpath dataset folder (train/validation/test)"
    )
    ap.add_argument(
        "--careerpath-metrics", default="outputs/report/metrics.json", help="careerpath evaluate's"
    )
    ap.add_argument("--python", default="/tmp/rbenv/bin/python", help="python of the RecBole virtualenv")
    ap.add_argument("--work", default="outputs/bench_sasrec", help="working folder (export, RecBole files)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sasrec.json"))
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--stopping-step", type=int, default=10, help="epochs without a better validation MRR@10")
    ap.add_argument("--max-len", type=int, default=50, help="MAX_ITEM_LIST_LENGTH")
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--goal-token",
        action="store_true",
        help="start each user's sequence with a goal:<id> item (the goal careerpath's input states)",
    )
    args = ap.parse_args(argv)

    data, work, metrics_path = Path(args.data), Path(args.work), Path(args.careerpath_metrics)
    for split in ("train", "validation", "test"):
        if not (data / f"{split}.jsonl").is_file():
            raise SystemExit(f"--data {data}: no {split}.jsonl; build one with `careerpath data build`")
    if not metrics_path.is_file():
        raise SystemExit(f"--careerpath-metrics {metrics_path}: not found; run `careerpath evaluate` first")
    careerpath = careerpath_figures(metrics_path)
    versions = check_python(args.python)
    started = time.time()

    export_recbole(data, work / "export" / NAME, name=NAME)
    rb_dir = work / "recbole" / NAME
    rb_dir.mkdir(parents=True, exist_ok=True)
    lead: dict[str, list[str]] = {}
    if args.goal_token:
        for split in ("train", "validation", "test"):
            lead.update({r["user_id"]: [f"goal:{r['goal_id']}"] for r in load_split(data, split)})
    counts = {}
    for split in SPLITS:
        seqs = read_recbole_sequences(work / "export" / NAME / f"{NAME}.{split}.inter")
        seqs = {u: lead.get(u, []) + s for u, s in seqs.items()}
        pairs = next_item_pairs(seqs, args.max_len)
        write_pairs(rb_dir / f"{NAME}.{split}.inter", pairs)
        counts[split] = {"users": len(seqs), "pairs": len(pairs)}
    item_text = (work / "export" / NAME / f"{NAME}.item").read_text(encoding="utf-8")
    for goal in sorted({t[0] for t in lead.values()}):
        item_text += f"{goal}\tgoal\t{goal[5:]}\n"
    (rb_dir / f"{NAME}.item").write_text(item_text, encoding="utf-8")

    rows = load_split(data, "test")
    queries: dict[tuple[str, ...], int] = {}
    for r, before, with_course in row_queries(rows):
        for seq in (lead.get(r["user_id"], []) + before, lead.get(r["user_id"], []) + with_course):
            queries.setdefault(tuple(seq), len(queries))
    spec = {
        "name": NAME,
        "out": str((work / "run").resolve()),
        "threads": args.threads,
        "config": recbole_config(args, (work / "recbole").resolve()),
        "queries": [list(q) for q in queries],
    }
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec))
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    driver = Path(__file__).resolve().parent / "sasrec_driver.py"
    print(f"training SASRec with {args.python} ({versions}) ...", flush=True)
    res = subprocess.run([args.python, str(driver), "--spec", str(spec_path.resolve())], env=env)
    if res.returncode != 0:
        raise SystemExit(f"sasrec_driver.py failed (exit {res.returncode}); see the log above")
    run = work / "run"
    result = json.loads((run / "result.json").read_text())
    scores = np.load(run / "scores.npy")
    columns = {tok: i for i, tok in enumerate(json.loads((run / "items.json").read_text()))}
    jobs, courses = catalog_items(rb_dir / f"{NAME}.item")
    missing = [t for t in jobs + courses if t not in columns]
    if missing:
        raise SystemExit(f"RecBole has no id for {len(missing)} catalog items, e.g. {missing[:3]}")
    sasrec = score_rows(rows, queries, scores, columns, jobs, courses, lead)

    n_ours, n_theirs = sasrec["move_destination_before"]["n"], careerpath["move_destination"]["n"]
    if n_ours != n_theirs:
        print(f"warning: {n_ours} test moves here, {n_theirs} in {metrics_path}: not the same rows?")
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "command": "python benchmarks/sasrec.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "data": str(data),
        "careerpath_metrics": str(metrics_path),
        "recbole_torch_numpy": versions,
        "catalog": {"jobs": len(jobs), "courses": len(courses)},
        "splits": counts,
        "settings": {
            k: spec["config"][k]
            for k in (
                "MAX_ITEM_LIST_LENGTH",
                "hidden_size",
                "inner_size",
                "n_layers",
                "n_heads",
                "hidden_dropout_prob",
                "attn_dropout_prob",
                "loss_type",
                "learning_rate",
                "train_batch_size",
                "epochs",
                "stopping_step",
                "valid_metric",
                "seed",
            )
        },
        "threads": args.threads,
        "goal_token": args.goal_token,
        "sasrec_training": result,
        "careerpath": careerpath,
        "sasrec": sasrec,
        "wall_s": round(time.time() - started, 1),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1))
    tmp.replace(out)
    print(table(careerpath, sasrec, "SASRec + goal token" if args.goal_token else "SASRec"))
    print(
        f"SASRec: best epoch {result['best_epoch']} of {result['epochs_run']}, validation "
        f"{result['best_valid']}, RecBole's own test (next event, all items) {result['recbole_test']}; "
        f"{result['train_s']} s training; wrote {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
