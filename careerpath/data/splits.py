"""The one reader of a built dataset's splits (``train/validation/test.jsonl``), through ``datasets``.

``load_splits`` gives the ``DatasetDict`` (Arrow, memory-mapped: what ``data build --save-to-disk``
and ``--push-to-hub`` write); ``load_split`` gives one split's rows as dicts, which is what the
trainers, baselines and evaluation iterate. Variable-key fields (``probs``: course id -> probability)
keep their keys: ``datasets`` stores them as JSON values, not as one struct column per course.
"""

from __future__ import annotations

from pathlib import Path

from careerpath.core.atomic import atomic_dir

SPLITS = ("train", "validation", "test")


def split_path(data_dir: str | Path, split: str) -> Path:
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: expected one of {', '.join(SPLITS)}")
    path = Path(data_dir) / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: missing; build the dataset with `careerpath data build --out {data_dir}`"
        )
    return path


def _load(paths: dict[str, Path]):
    import datasets

    empty = [s for s, p in paths.items() if not p.read_text(encoding="utf-8").strip()]
    full = {s: str(p) for s, p in paths.items() if s not in empty}
    out = datasets.DatasetDict()
    if full:
        try:
            out = datasets.load_dataset("json", data_files=full)
        except Exception as e:  # datasets wraps the JSON error; name the files and what to do
            cause = e.__cause__ or e
            raise ValueError(
                f"{', '.join(full.values())}: not valid JSON lines ({type(cause).__name__}: "
                f"{str(cause)[:200]}); rebuild the dataset with `careerpath data build`"
            ) from None
    for s in empty:
        out[s] = datasets.Dataset.from_dict({})
    return datasets.DatasetDict({s: out[s] for s in paths})


def load_splits(data_dir: str | Path, splits: tuple[str, ...] = SPLITS):
    """The dataset's splits as a ``datasets.DatasetDict``."""
    import datasets

    was = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        return _load({s: split_path(data_dir, s) for s in splits})
    finally:
        if was:
            datasets.enable_progress_bars()


def check_save_target(out: str | Path) -> Path:
    """``out`` may be new or an earlier saved DatasetDict (replaced); never some other folder."""
    out = Path(out).resolve()
    if out.exists() and not (out / "dataset_dict.json").is_file():
        raise ValueError(f"--save-to-disk {out}: exists and is not a saved DatasetDict; pick a new folder")
    return out


def save_to_disk(data_dir: str | Path, out: str | Path) -> Path:
    """Save the splits as a ``DatasetDict`` (``datasets.load_from_disk(out)`` reads it), atomically."""
    out = check_save_target(out)
    dd = load_splits(data_dir)
    with atomic_dir(out) as tmp:
        dd.save_to_disk(str(tmp))
    return out


def load_split(data_dir: str | Path, split: str, limit: int = 0) -> list[dict]:
    """Rows of ``DATA/<split>.jsonl`` as dicts, in file order; the first ``limit`` when > 0."""
    ds = load_splits(data_dir, (split,))[split]
    if limit and limit < len(ds):
        ds = ds.select(range(limit))
    return ds.to_list()


def resolve_data_dir(model_dir: str | Path, data: str | Path | None = None) -> Path:
    """The dataset folder for a model: ``data`` when given, else the one its ``config.yaml`` records
    (absolute since training resolves it; an older relative one is tried beside the model first,
    then from the working directory). A clear error names ``--data`` when it is not there."""
    if data is not None:
        path = Path(data)
        if not (path / "train.jsonl").is_file():
            raise FileNotFoundError(
                f"--data {data}: not a dataset folder (no train.jsonl); build one with "
                f"`careerpath data build --out {data}`"
            )
        return path.resolve()
    import yaml

    cfg_path = Path(model_dir) / "config.yaml"
    if not cfg_path.is_file():
        raise FileNotFoundError(
            f"{cfg_path}: missing, so the model's dataset is unknown; pass --data DATASET"
        )
    recorded = str(
        ((yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}).get("data") or {}).get("data_dir", "")
    )
    if recorded:
        rec = Path(recorded)
        for candidate in [rec] if rec.is_absolute() else [Path(model_dir) / rec, Path.cwd() / rec]:
            if (candidate / "train.jsonl").is_file():
                return candidate.resolve()
    raise FileNotFoundError(
        f"{model_dir} was trained on {recorded or 'an unrecorded dataset'!r}, which is not there from "
        f"{Path.cwd()}; pass --data DATASET_FOLDER (the folder of `careerpath data build --out`)"
    )
