"""RecBole export: events rebuilt in order, files read back to the same sequences, split by user."""

import csv
import json

import pytest
from helpers_rows import trajectory

from careerpath.app.recbole_export import export_recbole, main, read_recbole_sequences, user_sequences

SPLITS = {"train": "train", "validation": "valid", "test": "test"}


def write_dataset(folder, splits: dict[str, list[dict]]):
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        with open(folder / f"{split}.jsonl", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    return folder


def test_user_sequence_is_rebuilt_in_event_order():
    # history j0 > j1; takes c0, c1 (abandoned), c1 again, c2; moves to j2 after step 1
    rows = trajectory("u1", "j3", ["j0", "j1"], ["c0", "c1", "c1", "c2"], moves={1: "j2"}, abandoned=[1])
    assert rows[2]["course_ids"] == ["c0"] and rows[2]["history_ids"] == ["j0", "j1", "j2"]
    expected = ["job:j0", "job:j1", "course:c0", "course:c1", "job:j2", "course:c1", "course:c2"]
    # the order of the rows in the file does not matter
    assert user_sequences(rows[::-1]) == {"u1": expected}


def test_gaps_in_steps_are_an_error():
    rows = trajectory("u1", "j3", ["j0"], ["c0", "c1", "c2"])
    with pytest.raises(ValueError, match="not consecutive"):
        user_sequences([rows[0], rows[2]])


def test_export_reads_back_and_splits_by_user(tmp_path):
    splits = {
        "train": trajectory("a", "j3", ["j0"], ["c0", "c1"], moves={1: "j1"})
        + trajectory("b", "j2", ["j1"], ["c2", "c3", "c4"]),
        "validation": trajectory("c", "j3", ["j0", "j1"], ["c1"]),
        "test": trajectory("d", "j1", ["j0"], ["c4", "c0"], moves={0: "j1"}),
    }
    data = write_dataset(tmp_path / "data", splits)
    out = tmp_path / "recbole" / "careerpath"
    assert main(["--format", "recbole", "--data", str(data), "--out", str(out)]) == 0
    seen = {}
    for split, suffix in SPLITS.items():
        path = out / f"careerpath.{suffix}.inter"
        assert path.read_text().splitlines()[0] == "user_id:token\titem_id:token\ttimestamp:float"
        back = read_recbole_sequences(path)
        assert back == user_sequences(splits[split])
        for user in back:
            assert user not in seen, f"{user} in {seen.get(user)} and {split}"
            seen[user] = split
    assert read_recbole_sequences(out / "careerpath.test.inter") == {
        "d": ["job:j0", "course:c4", "job:j1", "course:c0"]
    }
    with open(out / "careerpath.item") as f:
        items = {r["item_id:token"]: r for r in csv.DictReader(f, delimiter="\t")}
    assert items["course:c3"]["type:token"] == "course" and items["course:c3"]["title:token_seq"] == "C3"
    assert items["job:j1"]["type:token"] == "job"
    assert (out / "careerpath.user").read_text().splitlines()[1].split("\t")[:2] == ["a", "j3"]


def test_a_user_in_two_splits_is_refused(tmp_path):
    rows = trajectory("a", "j3", ["j0"], ["c0", "c1"])
    data = write_dataset(tmp_path / "data", {"train": rows[:1], "validation": [], "test": rows[1:]})
    with pytest.raises(ValueError, match="both train and test"):
        export_recbole(data, tmp_path / "out")


def test_export_of_a_real_build_matches_its_rows(tiny_dataset, tmp_path):
    out = tmp_path / "rb"
    counts = export_recbole(tiny_dataset, out, name="tiny")
    users = set()
    for split, suffix in SPLITS.items():
        rows = [json.loads(line) for line in open(tiny_dataset / f"{split}.jsonl")]
        back = read_recbole_sequences(out / f"tiny.{suffix}.inter")
        assert back == user_sequences(rows)
        assert counts[suffix] == sum(map(len, back.values()))
        assert not users & set(back)
        users |= set(back)
        # every row's history and courses are, in order, what the sequence had before that step
        for r in rows:
            seq = back[r["user_id"]]
            jobs = [s[4:] for s in seq if s.startswith("job:")]
            assert jobs[: len(r["history_ids"])] == r["history_ids"]
            courses = iter(s[7:] for s in seq if s.startswith("course:"))
            assert all(c in courses for c in r["course_ids"])  # an ordered subsequence
