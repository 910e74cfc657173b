"""The GRU baseline: a small recurrent network over the goal, the job history and the courses taken.

Trained with early stopping on validation log-loss; saved as ``baseline.json`` +
``model.safetensors``. torch is imported only when a GRU is built, trained or loaded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from careerpath.core.metrics import gold_indices
from careerpath.eval.baselines_models import _write_json


class GRUBaseline:
    """GRU over ``[goal job, history jobs (oldest first)..., courses in the order taken...]``.

    Tokens come from the catalog (goal / job / course ids have separate embeddings), the state at
    the last real position feeds two softmax heads: next course (all courses) and next job (all
    jobs + "stay"). Trained with Adam on the sum of both cross-entropies, seeded, with early
    stopping on validation loss (the best epoch's weights are kept). Training runs on
    ``num_threads`` torch threads (restored afterwards): a model this small gets nothing from
    intra-op parallelism, and on a busy 2-core machine two threads were 10x slower than one.
    """

    name = "gru"

    def __init__(
        self,
        emb_dim: int = 64,
        hidden: int = 128,
        epochs: int = 12,
        batch_size: int = 256,
        lr: float = 5e-3,
        patience: int = 2,
        max_len: int = 64,
        seed: int = 0,
        num_threads: int = 1,
    ) -> None:
        self.cfg = {
            "emb_dim": emb_dim,
            "hidden": hidden,
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "patience": patience,
            "max_len": max_len,
            "seed": seed,
            "num_threads": num_threads,
        }
        self.course_ids: list[str] = []
        self.job_ids: list[str] = []
        self.history: list[dict] = []

    # vocabulary: 0 = padding, 1 = unknown, then goal:, job:, course: tokens in catalog order
    def _build_vocab(self) -> None:
        tokens = [f"goal:{j}" for j in self.job_ids] + [f"job:{j}" for j in self.job_ids]
        tokens += [f"course:{c}" for c in self.course_ids]
        self.vocab = {t: i + 2 for i, t in enumerate(tokens)}

    def _encode(self, rows: Sequence[dict]):
        import torch

        seqs = []
        for r in rows:
            body = [f"job:{j}" for j in r.get("history_ids") or [r.get("job_id", "")]]
            body += [f"course:{c}" for c in r.get("course_ids") or []]
            toks = [f"goal:{r.get('goal_id', '')}"] + body[-(self.cfg["max_len"] - 1) :]
            seqs.append([self.vocab.get(t, 1) for t in toks])
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        ids = torch.zeros((len(seqs), int(lengths.max()) if seqs else 1), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
        return ids, lengths

    def _build_model(self):
        import torch
        from torch import nn

        cfg, n_c, n_j = self.cfg, len(self.course_ids), len(self.job_ids) + 1

        class Net(nn.Module):
            def __init__(self, vocab_size: int) -> None:
                super().__init__()
                self.emb = nn.Embedding(vocab_size, cfg["emb_dim"], padding_idx=0)
                self.gru = nn.GRU(cfg["emb_dim"], cfg["hidden"], batch_first=True)
                self.drop = nn.Dropout(0.1)
                self.course_head = nn.Linear(cfg["hidden"], n_c)
                self.job_head = nn.Linear(cfg["hidden"], n_j)

            def forward(self, ids, lengths):
                states, _ = self.gru(self.emb(ids))
                # the state after the last real token of each sequence (padding is at the end)
                last = states[torch.arange(len(ids)), lengths - 1]
                last = self.drop(last)
                return self.course_head(last), self.job_head(last)

        return Net(len(self.vocab) + 2)

    def _loss(self, ids, lengths, gold_c, gold_j):
        from torch.nn import functional as F

        c, j = self.model(ids, lengths)
        loss = F.cross_entropy(j, gold_j, ignore_index=-1)
        if (gold_c >= 0).any():
            loss = loss + F.cross_entropy(c, gold_c, ignore_index=-1)
        return loss

    def _eval_loss(self, data) -> float:
        import torch

        self.model.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for b in range(0, len(data[0]), 512):
                part = [t[b : b + 512] for t in data]
                total += float(self._loss(*part)) * len(part[0])
                n += len(part[0])
        return total / max(n, 1)

    def fit(
        self,
        train_rows: Sequence[dict],
        course_ids: Sequence[str],
        job_ids: Sequence[str],
        val_rows: Sequence[dict] | None = None,
        log=print,
    ):
        """Train; without ``val_rows`` a tenth of the training users is held out for early stopping."""
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(self.cfg["num_threads"])
        try:
            return self._fit(train_rows, course_ids, job_ids, val_rows, log)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, train_rows, course_ids, job_ids, val_rows, log):
        import torch

        self.course_ids, self.job_ids = list(course_ids), list(job_ids)
        self._build_vocab()
        if not val_rows:
            users = sorted({r["user_id"] for r in train_rows})
            held = set(users[::10]) if len(users) > 1 else set()
            val_rows = [r for r in train_rows if r["user_id"] in held]
            train_rows = [r for r in train_rows if r["user_id"] not in held]
        torch.manual_seed(self.cfg["seed"])
        self.model = self._build_model()
        opt = torch.optim.Adam(self.model.parameters(), lr=self.cfg["lr"])

        def tensors(rows):
            ids, lengths = self._encode(rows)
            gc, gj = gold_indices(rows, self.course_ids, self.job_ids)
            return ids, lengths, torch.from_numpy(gc), torch.from_numpy(gj)

        train, val = tensors(train_rows), tensors(val_rows)
        gen = torch.Generator().manual_seed(self.cfg["seed"])
        best, best_state, bad = math.inf, None, 0
        self.history = []
        for epoch in range(self.cfg["epochs"]):
            self.model.train()
            order = torch.randperm(len(train[0]), generator=gen)
            for b in range(0, len(order), self.cfg["batch_size"]):
                idx = order[b : b + self.cfg["batch_size"]]
                loss = self._loss(*(t[idx] for t in train))
                opt.zero_grad()
                loss.backward()
                opt.step()
            val_loss = self._eval_loss(val) if len(val[0]) else self._eval_loss(train)
            self.history.append({"epoch": epoch + 1, "val_loss": round(val_loss, 5)})
            if log:
                log(f"gru epoch {epoch + 1}: validation loss {val_loss:.4f}")
            if val_loss < best - 1e-4:
                best, bad = val_loss, 0
                best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            else:
                bad += 1
                if bad >= self.cfg["patience"]:
                    break
        if best_state is not None:
            self.model.load_state_dict(best_state)
        self.model.eval()
        return self

    def score(self, rows: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        n_c, n_j = len(self.course_ids), len(self.job_ids) + 1
        if not rows:
            return np.zeros((0, n_c)), np.zeros((0, n_j))
        self.model.eval()
        ids, lengths = self._encode(rows)
        cs, js = [], []
        with torch.no_grad():
            for b in range(0, len(ids), 512):
                c, j = self.model(ids[b : b + 512], lengths[b : b + 512])
                cs.append(torch.log_softmax(c.double(), -1).numpy())
                js.append(torch.log_softmax(j.double(), -1).numpy())
        return np.concatenate(cs), np.concatenate(js)

    def save(self, out_dir: str | Path) -> None:
        """``baseline.json`` (kind, config, catalog ids, training history) + ``model.safetensors``."""
        from safetensors.torch import save_file

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "kind": self.name,
            "course_ids": self.course_ids,
            "job_ids": self.job_ids,
            "params": self.cfg,
            "history": self.history,
        }
        _write_json(out / "baseline.json", meta)
        save_file(
            {k: v.contiguous() for k, v in self.model.state_dict().items()}, str(out / "model.safetensors")
        )

    @classmethod
    def load(cls, out_dir: str | Path) -> GRUBaseline:
        from safetensors.torch import load_file

        out = Path(out_dir)
        meta = json.loads((out / "baseline.json").read_text(encoding="utf-8"))
        if meta.get("kind") != cls.name:
            raise ValueError(f"{out}/baseline.json: kind {meta.get('kind')!r}, expected {cls.name!r}")
        obj = cls(**meta["params"])
        obj.course_ids, obj.job_ids, obj.history = (
            meta["course_ids"],
            meta["job_ids"],
            meta.get("history", []),
        )
        obj._build_vocab()
        obj.model = obj._build_model()
        obj.model.load_state_dict(load_file(str(out / "model.safetensors")))
        obj.model.eval()
        return obj
