"""Train RecBole's SASRec on pre-split sequence files and score given sequences (run by ``sasrec.py``).

Runs under the RecBole virtualenv's python, not careerpath's (RecBole is a benchmark-only
dependency):

    /tmp/rbenv/bin/python benchmarks/sasrec_driver.py --spec WORK/spec.json

``spec.json`` (written by ``sasrec.py``) names the dataset folder and name, RecBole's config
overrides and the query sequences; this writes ``scores.npy`` (float32, one row per query, one
column per RecBole item id, column 0 the padding item), ``items.json`` (the item token of each
column) and ``result.json`` (epochs run, best validation score, RecBole's own test figures, time).

The venv needs ``pandas<3`` (RecBole 1.2.0's ``Dataset._remap`` fails under pandas 3). Three shims
for RecBole 1.2.0 on numpy 2 and torch >= 2.6, none in site-packages:

* RecBole's ``Config`` aliases ``np.float_``, ``np.complex_`` and ``np.unicode_``, which numpy 2
  removed: they are set to their numpy 2 names before RecBole is imported.
* RecBole saves the best epoch with ``torch.save`` (a pickle) and reloads it with ``torch.load``,
  which torch >= 2.6 refuses by default (``weights_only=True``). Here the best epoch's weights are
  kept in memory instead (``Trainer._save_checkpoint`` overridden), nothing is written or unpickled,
  and the test is run with ``load_best_model=False`` after loading them back.
* ``Config`` gets the SASRec class, not its name: by name RecBole imports every model package to
  find it, and LDiffRec's needs ``kmeans_pytorch``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

for _old, _new in (("float_", np.float64), ("complex_", np.complex128), ("unicode_", np.str_)):
    if not hasattr(np, _old):
        setattr(np, _old, _new)

import torch  # noqa: E402
from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.model.sequential_recommender import SASRec  # noqa: E402
from recbole.trainer import Trainer  # noqa: E402
from recbole.utils import init_logger, init_seed  # noqa: E402


class InMemoryBestTrainer(Trainer):
    """RecBole's trainer, keeping the best epoch's weights in memory instead of a pickle on disk."""

    best_state: dict | None = None
    best_epoch: int = -1
    epochs_run: int = 0

    def _train_epoch(self, *args, **kwargs):
        self.epochs_run += 1
        return super()._train_epoch(*args, **kwargs)

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        self.best_state = copy.deepcopy(self.model.state_dict())
        self.best_epoch = epoch


def score_sequences(model: SASRec, dataset, sequences: list[list[str]], max_len: int) -> np.ndarray:
    """SASRec's next-item scores (dot products with every item embedding) after each sequence."""
    out = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(sequences), 512):
            chunk = [s[-max_len:] for s in sequences[start : start + 512]]
            seq = torch.zeros(len(chunk), max_len, dtype=torch.long)  # left-aligned, as RecBole's
            for i, s in enumerate(chunk):
                seq[i, : len(s)] = torch.as_tensor(dataset.token2id("item_id", s))
            lengths = torch.as_tensor([len(s) for s in chunk], dtype=torch.long)
            hidden = model.forward(seq, lengths)
            out.append((hidden @ model.item_embedding.weight.T).numpy().astype(np.float32))
    return np.concatenate(out) if out else np.zeros((0, dataset.item_num), dtype=np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", required=True, help="spec.json written by benchmarks/sasrec.py")
    args = ap.parse_args()
    sys.argv = sys.argv[:1]  # RecBole's Config reads --key=value overrides from the command line
    spec = json.loads(Path(args.spec).read_text())
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(out)  # RecBole writes its log folder under the working directory
    # the model class, not its name: by name RecBole imports every model package to find it, and some
    # of those need packages SASRec does not (kmeans_pytorch for LDiffRec)

    config = Config(model=SASRec, dataset=spec["name"], config_dict=spec["config"])
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    torch.set_num_threads(int(spec.get("threads", 1)))
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = SASRec(config, train_data.dataset)
    trainer = InMemoryBestTrainer(config, model)

    started = time.time()
    best_valid, best_valid_result = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    train_s = time.time() - started
    if trainer.best_state is None:
        raise SystemExit("SASRec: no epoch was validated; raise epochs or lower eval_step")
    model.load_state_dict(trainer.best_state)
    test_result = trainer.evaluate(test_data, load_best_model=False, show_progress=False)

    items = [str(t) for t in dataset.field2id_token["item_id"]]
    scores = score_sequences(model, dataset, spec["queries"], int(config["MAX_ITEM_LIST_LENGTH"]))
    np.save(out / "scores.npy", scores)
    (out / "items.json").write_text(json.dumps(items))
    result = {
        "best_epoch": trainer.best_epoch,
        "epochs_run": trainer.epochs_run,
        "best_valid_score": float(best_valid),
        "best_valid": {k: float(v) for k, v in best_valid_result.items()},
        "recbole_test": {k: float(v) for k, v in test_result.items()},
        "train_s": round(train_s, 1),
        "n_items": int(dataset.item_num),
        "train_pairs": len(train_data.dataset),
        "valid_pairs": len(valid_data.dataset),
        "test_pairs": len(test_data.dataset),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "torch": torch.__version__,
    }
    (out / "result.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
