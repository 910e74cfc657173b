"""Export a careerpath dataset as RecBole atomic files, to compare with RecBole's sequential models.

    careerpath data export --format recbole --data outputs/data --out outputs/recbole/careerpath

writes, for ``name`` = the last part of ``--out``:

- ``<name>.train.inter`` / ``<name>.valid.inter`` / ``<name>.test.inter``: one interaction per event,
  ``user_id:token  item_id:token  timestamp:float`` (tab-separated), in the order it happened.
  Items are courses and jobs in one id space, prefixed ``course:<id>`` and ``job:<id>``.
- ``<name>.item``: ``item_id:token  type:token  title:token_seq``.
- ``<name>.user``: ``user_id:token  goal:token  start_family:token  start_level:token``.

The split is by *user*, as in the rest of careerpath (no user in two files): point RecBole at the
folder with ``benchmark_filename: [train, valid, test]``.

A user's events are rebuilt from the user's rows (steps 0..n-1, consecutive): the jobs of the first
row's history, the courses it had already taken, then per step the course taken (abandoned courses
included: the person enrolled) followed by the job moved to, if any. Timestamps are 0, 1, 2, ...
per user.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from careerpath.core.textformat import STAY
from careerpath.data.splits import load_split

SPLIT_FILES = {"train": "train", "validation": "valid", "test": "test"}
INTER_HEADER = ["user_id:token", "item_id:token", "timestamp:float"]


def _clean(text: str) -> str:
    """A field value with no tabs or newlines (they would break the atomic file)."""
    return " ".join(str(text).split())


def user_sequences(rows: Iterable[dict]) -> dict[str, list[str]]:
    """Per user, the ordered list of prefixed item ids (``course:<id>`` / ``job:<id>``) of their events."""
    by_user: dict[str, list[dict]] = {}
    for r in rows:
        by_user.setdefault(r["user_id"], []).append(r)
    out = {}
    for user, urows in by_user.items():
        urows.sort(key=lambda r: r["step"])
        steps = [r["step"] for r in urows]
        if steps != list(range(steps[0], steps[0] + len(steps))):
            raise ValueError(
                f"user {user}: steps {steps} are not consecutive; cannot rebuild the event order"
            )
        first = urows[0]
        seq = [f"job:{j}" for j in first.get("history_ids") or [first["job_id"]]]
        seq += [f"course:{c}" for c in first.get("course_ids") or []]
        for r in urows:
            if r.get("next_course_id"):
                seq.append(f"course:{r['next_course_id']}")
            if r.get("next_job_id", STAY) != STAY:
                seq.append(f"job:{r['next_job_id']}")
        out[user] = seq
    return out


def row_queries(rows: Iterable[dict]) -> list[tuple[dict, list[str], list[str]]]:
    """Per row, in the order given: ``(row, before, with_course)`` where ``before`` is the user's events
    (as in :func:`user_sequences`) up to that row's step, i.e. what the row's own input knows (history,
    courses taken, earlier moves), and ``with_course`` adds the course taken at the row's step, if any.

    The row's next job is then the event right after ``with_course`` when the person moved, which is
    how a sequential recommender is asked for the move's destination.
    """
    rows = list(rows)
    by_user: dict[str, list[dict]] = {}
    for r in rows:
        by_user.setdefault(r["user_id"], []).append(r)
    seqs = user_sequences(rows)  # also checks the steps are consecutive
    at: dict[int, tuple[list[str], list[str]]] = {}
    for user, urows in by_user.items():
        urows = sorted(urows, key=lambda r: r["step"])
        first = urows[0]
        pos = len(first.get("history_ids") or [first["job_id"]]) + len(first.get("course_ids") or [])
        for r in urows:
            took = 1 if r.get("next_course_id") else 0
            at[id(r)] = (seqs[user][:pos], seqs[user][: pos + took])
            pos += took + (1 if r.get("next_job_id", STAY) != STAY else 0)
    return [(r, *at[id(r)]) for r in rows]


def write_inter(path: Path, sequences: dict[str, list[str]]) -> None:
    """One ``.inter`` file: each user's events with timestamps 0, 1, 2, ..."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(INTER_HEADER)
        for user in sorted(sequences):
            for t, item in enumerate(sequences[user]):
                w.writerow([user, item, f"{float(t):.1f}"])


def read_recbole_sequences(path: str | Path) -> dict[str, list[str]]:
    """Read a ``.inter`` file back to ``{user: [item, ...]}`` ordered by timestamp."""
    events: dict[str, list[tuple[float, int, str]]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader)
        try:
            u, i, t = (header.index(h) for h in INTER_HEADER)
        except ValueError as e:
            raise ValueError(f"{path}: header {header} lacks one of {INTER_HEADER}") from e
        for n, row in enumerate(reader):
            events.setdefault(row[u], []).append((float(row[t]), n, row[i]))
    return {user: [item for _, _, item in sorted(ev)] for user, ev in events.items()}


def _titles(data_dir: Path, rows: Sequence[dict]) -> dict[str, tuple[str, str]]:
    """Prefixed item id -> (type, title): from the catalog CSVs when present, else from the rows."""
    items: dict[str, tuple[str, str]] = {}
    cat = data_dir / "catalog"
    for kind, fname in (("course", "courses.csv"), ("job", "jobs.csv")):
        path = cat / fname
        if path.is_file():
            with open(path, encoding="utf-8", newline="") as f:
                for r in csv.DictReader(f):
                    items[f"{kind}:{r['id']}"] = (kind, r.get("title", r["id"]))
    for r in rows:
        pairs = list(zip(r.get("history_ids", []), r.get("history", []), strict=False))
        pairs.append((r.get("next_job_id"), r.get("next_job")))
        for jid, name in pairs:
            if jid and jid != STAY:
                items.setdefault(f"job:{jid}", ("job", name or jid))
        cpairs = list(zip(r.get("course_ids", []), r.get("courses", []), strict=False))
        cpairs.append((r.get("next_course_id"), r.get("next_course")))
        for cid, name in cpairs:
            if cid:
                items.setdefault(f"course:{cid}", ("course", name or cid))
    return items


def export_recbole(data_dir: str | Path, out_dir: str | Path, name: str | None = None) -> dict[str, int]:
    """Write the RecBole atomic files for every split in ``data_dir``; returns interactions per split."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    name = name or out_dir.name
    for split in SPLIT_FILES:  # every input checked before the output folder is made
        if not (data_dir / f"{split}.jsonl").is_file():
            raise FileNotFoundError(
                f"--data {data_dir}: no {split}.jsonl there; build the dataset with "
                f"`careerpath data build --out {data_dir}`"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    all_rows, counts, owner = [], {}, {}
    for split, suffix in SPLIT_FILES.items():
        rows = load_split(data_dir, split)
        seqs = user_sequences(rows)
        for user in seqs:
            if user in owner:
                raise ValueError(
                    f"user {user} is in both {owner[user]} and {split}; the split must be by user"
                )
            owner[user] = split
        write_inter(out_dir / f"{name}.{suffix}.inter", seqs)
        counts[suffix] = sum(len(s) for s in seqs.values())
        all_rows += rows
    with open(out_dir / f"{name}.item", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["item_id:token", "type:token", "title:token_seq"])
        for item, (kind, title) in sorted(_titles(data_dir, all_rows).items()):
            w.writerow([item, kind, _clean(title)])
    users = {}
    for r in all_rows:
        users.setdefault(r["user_id"], r)
    with open(out_dir / f"{name}.user", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["user_id:token", "goal:token", "start_family:token", "start_level:token"])
        for user in sorted(users):
            r = users[user]
            w.writerow(
                [user, r.get("goal_id", ""), _clean(r.get("start_family", "")), r.get("start_level", "")]
            )
    return counts


def build_parser() -> argparse.ArgumentParser:
    from careerpath.core.cli_common import ArgumentParser, HelpFormatter, add_json_flag

    parser = ArgumentParser(
        prog="careerpath data export",
        description="export a dataset for other tools",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--format", choices=["recbole"], default="recbole", help="output format")
    parser.add_argument("--data", required=True, help="dataset folder from `careerpath data build`")
    parser.add_argument("--out", required=True, help="output folder (RecBole: data_path/<dataset name>)")
    parser.add_argument(
        "--name", default=None, help="dataset name in the file names (default: the --out folder name)"
    )
    add_json_flag(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``careerpath data export --format recbole --data DIR --out DIR [--name NAME] [--json]``."""
    from careerpath.core.cli_common import print_json, require_path

    args = build_parser().parse_args(argv)
    require_path(args.data, "--data", "dir", hint="build one with `careerpath data build`")
    counts = export_recbole(args.data, args.out, args.name)
    name = args.name or Path(args.out).name
    if args.json:
        files = [f"{name}.{s}.inter" for s in ("train", "valid", "test")] + [f"{name}.item", f"{name}.user"]
        print_json({"out": str(args.out), "name": name, "interactions": counts, "files": files})
        return 0
    print(f"wrote {args.out}/{name}.{{train,valid,test}}.inter ({counts}), {name}.item, {name}.user")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
