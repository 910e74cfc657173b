"""``careerpath quickstart``: the main job, end to end on the bundled catalog.

Builds the default dataset, trains the tiny default model, evaluates it on the test split against
the oracle ceiling and the baselines, and shows one example pathway for a sample person.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from careerpath.core.config import bundled_config

SAMPLE_PERSON = (
    "I'm a data analyst, I know SQL, Excel and statistics, and I want to become a machine learning engineer"
)


def build_data(out: Path, users: int | None) -> Path:
    from careerpath.data.build import build_dataset, load_data_config

    cfg = load_data_config(bundled_config("data/default.yaml"), {"users": users})
    data_dir = out / "data"
    stats_file = data_dir / "stats.json"
    if stats_file.exists():
        from careerpath.data.build import stats_config

        if json.loads(stats_file.read_text()).get("config") == stats_config(cfg):
            print(f"[1/4] dataset: reusing {data_dir} (same config)")
            return data_dir
    print("[1/4] dataset: building from the bundled catalog")
    stats = build_dataset(cfg, data_dir)
    ex = stats["examples"]
    print(
        f"      {stats['users']} users, {ex['train']}/{ex['validation']}/{ex['test']} examples in {stats['seconds']} s"
    )
    return data_dir


def train(data_dir: Path, out: Path, epochs: int | None, fast: bool) -> Path:
    from careerpath.core.config import load_config
    from careerpath.training.training import run_training

    argv = [
        "--config",
        str(bundled_config("tiny_t5.yaml")),
        "--data.data-dir",
        str(data_dir),
        "--train.output-dir",
        str(out / "tiny_t5"),
    ]
    if epochs:
        argv += ["--train.epochs", str(epochs)]
    if fast:
        argv += ["--train.epochs", "1", "--data.max-train-examples", "800", "--data.max-eval-examples", "64"]
    print("[2/4] training the tiny T5 (configs/tiny_t5.yaml)")
    return run_training(load_config(argv))


def evaluate(model_dir: Path, data_dir: Path, out: Path, fast: bool) -> dict:
    from careerpath.eval.evaluation import evaluate_model

    print("[3/4] evaluating on the test split (full-catalog ranking, BLEU, baselines, oracle ceiling)")
    return evaluate_model(
        model_dir,
        data_dir,
        split="test",
        out_dir=out / "report",
        max_examples=200 if fast else None,
        generation_examples=64 if fast else 300,
        bias=not fast,
    )


def show_pathway(model_dir: Path) -> None:
    from careerpath.serving.recommend import Recommender
    from careerpath.serving.render import render_text

    print(f'[4/4] an example pathway for: "{SAMPLE_PERSON}"')
    rec = Recommender.from_pretrained(model_dir)
    prof = rec.resolve(text=SAMPLE_PERSON)
    result = rec.recommend(prof, top_k=5)
    result["pathway"] = rec.pathway(prof).as_dict()
    print(render_text(result))


def run_quickstart(
    out: str | Path = "outputs", users: int | None = None, epochs: int | None = None, fast: bool = False
) -> int:
    start = time.time()
    out = Path(out)
    if fast and users is None:
        users = 150
    data_dir = build_data(out, users)
    model_dir = train(data_dir, out, epochs, fast)
    evaluate(model_dir, data_dir, out, fast)
    show_pathway(model_dir)
    print(
        f"\ndone in {time.time() - start:.0f} s. Written:\n"
        f"  dataset        {data_dir}\n  model + card   {model_dir}\n  report         {out / 'report' / 'report.md'}\n"
        f'Next: careerpath recommend --model {model_dir} --text "I am a ..., I know ..., I want to become a ..."'
    )
    return 0
