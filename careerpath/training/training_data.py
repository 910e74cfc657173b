"""Training examples: rows -> token ids (with soft targets and prior columns), length-grouped
batches, dynamic-padding collation and the dataloader that serves them to the loop."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from careerpath.core.catalog import load_catalog
from careerpath.core.config import Config
from careerpath.core.textformat import STAY
from careerpath.data.splits import load_split
from careerpath.model import generation
from careerpath.model.job_prior import JobPrior
from careerpath.model.prior import CoursePrior
from careerpath.model.scoring import course_token_ids, job_token_ids

log = logging.getLogger(__name__)


def load_rows(data_dir: str | Path, split: str, limit: int = 0) -> list[dict]:
    """Rows of ``DATA/<split>.jsonl`` (the first ``limit`` when > 0), through the one split reader."""
    return load_split(data_dir, split, limit)


def encode_rows(
    rows: list[dict],
    tokenizer,
    family: str,
    cfg: Config,
    soft: SoftTargets | None = None,
    prior: CoursePrior | None = None,
    job_prior: JobPrior | None = None,
) -> list[dict]:
    """Token ids per example. Causal: prompt + target + EOS with the loss on the target only.
    With ``soft``, seq2seq examples also carry the generator's distributions for their decisions;
    with ``prior`` (needs ``soft``'s course tokens), the course prior of each row and the label
    position of its next course."""
    d = cfg.data
    tokenizer.truncation_side = "left"  # the recent end of a history matters most
    if family == "seq2seq":
        src = tokenizer([r["input_text"] for r in rows], truncation=True, max_length=d.max_source_length)
        tgt = tokenizer([r["target_text"] for r in rows], truncation=True, max_length=d.max_target_length)
        out = [{"input_ids": s, "labels": t} for s, t in zip(src["input_ids"], tgt["input_ids"], strict=True)]
        if soft is not None:
            for row, ex in zip(rows, out, strict=True):
                if decisions := soft.for_row(row, ex["labels"]):
                    ex["soft"] = decisions
        if prior is not None and soft is not None:
            for row, ex in zip(rows, out, strict=True):
                gold = soft.course_token.get(row.get("next_course_id", ""))
                if gold is not None and gold in ex["labels"]:
                    ex["prior"] = (ex["labels"].index(gold), prior.for_row(row))
        if job_prior is not None and soft is not None:  # the job prior at the next-job position
            for row, ex in zip(rows, out, strict=True):
                gold = soft.job_token.get(row.get("next_job_id", ""))
                if gold is not None and gold in ex["labels"]:
                    pos = len(ex["labels"]) - 1 - ex["labels"][::-1].index(gold)
                    ex["job_prior"] = (pos, job_prior.for_row(row))
        return out
    prompts = [generation.build_prompt(r["input_text"]) for r in rows]
    src = tokenizer(prompts, add_special_tokens=False, truncation=True, max_length=d.max_source_length)
    tgt = tokenizer([r["target_text"] for r in rows], add_special_tokens=False)
    out = []
    for s, t in zip(src["input_ids"], tgt["input_ids"], strict=True):
        t = t[: d.max_target_length - 1] + [tokenizer.eos_token_id]  # EOS so generation stops
        out.append({"input_ids": s + t, "labels": [-100] * len(s) + t})
    return out


@dataclass
class SoftTargets:
    """The generator's distribution over the next course and the next job given the text
    (``probs_visible`` in each synthetic row), mapped to the one token each catalog name has.

    Learning these instead of the one sampled choice gives every example the whole distribution
    the oracle ceiling is computed from: the sampled label is a single draw from it, so with hard
    labels most of what an example could teach is noise. Only for synthetic data (real histories
    have no such probabilities) and only where names are single tokens (the tiny T5)."""

    course_token: dict[str, int]  # course id -> token id
    job_token: dict[str, int]  # job id (and "stay") -> token id

    @classmethod
    def from_catalog(cls, tokenizer, data_dir: str | Path) -> SoftTargets | None:
        catalog_dir = Path(data_dir) / "catalog"
        if not catalog_dir.is_dir():
            return None
        catalog = load_catalog(catalog_dir)
        cids, jids = list(catalog.courses), list(catalog.jobs)
        ctoks = course_token_ids(tokenizer, catalog)
        jtoks = job_token_ids(tokenizer, [catalog.jobs[j].title for j in jids] + [STAY])
        if ctoks is None or jtoks is None:
            return None
        return cls(dict(zip(cids, ctoks, strict=True)), dict(zip([*jids, STAY], jtoks, strict=True)))

    @property
    def course_pool(self) -> torch.Tensor:
        return torch.tensor(sorted(self.course_token.values()))

    def for_row(self, row: dict, labels: list[int]) -> list[tuple[int, list[int], list[float], float]]:
        """[(label position, token ids, probabilities, mass spread over the other courses)] for the
        next course and the next job, each where its gold token is in the (possibly truncated) labels."""
        probs = row.get("probs_visible")
        if not probs:
            return []
        out = []
        slots = (
            (
                "next_course_id",
                probs.get("course", {}),
                float(probs.get("course_other", 0.0)),
                self.course_token,
            ),
            # the job given the course taken (what the decoder has seen), where the build recorded it;
            # older datasets have only the marginal over all next courses
            ("next_job_id", row.get("job_given_course") or probs.get("job", {}), 0.0, self.job_token),
        )
        for key, dist, other, tokens in slots:
            gold = tokens.get(row.get(key, ""))
            if gold is None or gold not in labels or not dist or any(k not in tokens for k in dist):
                continue
            pos = (
                labels.index(gold) if key == "next_course_id" else len(labels) - 1 - labels[::-1].index(gold)
            )
            out.append((pos, [tokens[k] for k in dist], [float(v) for v in dist.values()], other))
        return out


class LengthGroupedBatches(Sampler):
    """Batches of similar length (less padding) in an order fixed by (seed, epoch), so a resumed
    run sees exactly the batches the interrupted one would have seen.

    Examples are shuffled, cut into groups of ``group`` batches and sorted by ``lengths`` (the
    source's) within a group. With ``target_lengths``, each run of ``window`` consecutive batches
    is then re-sorted by target length: an encoder-decoder's targets do not follow its sources'
    lengths, so batches of like sources alone pad about a fifth of the target (the decoder and the
    output layer run there); re-sorted in threes, the tiny T5's default data pads 2.7% of the
    source instead of 1.2% and 8.7% of the target instead of 21%, 3% fewer FLOPs a step."""

    def __init__(
        self,
        lengths: list[int],
        batch_size: int,
        seed: int,
        group: int = 50,
        target_lengths: list[int] | None = None,
        window: int = 3,
    ):
        self.lengths, self.batch_size, self.seed, self.group = lengths, batch_size, seed, group
        self.target_lengths, self.window = target_lengths, window
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        perm = torch.randperm(len(self.lengths), generator=g).tolist()
        mega = self.batch_size * self.group
        batches = []
        for i in range(0, len(perm), mega):
            chunk = sorted(perm[i : i + mega], key=lambda j: self.lengths[j], reverse=True)
            if self.target_lengths is not None:
                span = self.batch_size * self.window
                tgt = self.target_lengths
                chunk = [
                    j
                    for w in range(0, len(chunk), span)
                    for j in sorted(chunk[w : w + span], key=lambda j: tgt[j], reverse=True)
                ]
            batches += [chunk[k : k + self.batch_size] for k in range(0, len(chunk), self.batch_size)]
        for b in torch.randperm(len(batches), generator=g).tolist():
            yield batches[b]


def make_collate(pad_id: int, multiple: int = 1):
    """Dynamic padding: pad each batch only to its own longest example (right padding), its source
    width rounded up to a multiple of ``multiple`` (see :func:`source_multiple`). Filled in numpy
    and handed to torch without a copy: a tensor per example row cost 380 us a batch of 16, this 45."""

    def collate(examples: list[dict]) -> dict:
        n = len(examples)
        src_len = np.fromiter((len(e["input_ids"]) for e in examples), dtype=np.int64, count=n)
        tgt_len = [len(e["labels"]) for e in examples]
        width = -(-int(src_len.max()) // multiple) * multiple
        ids = np.full((n, width), pad_id, dtype=np.int64)
        labels = np.full((n, max(tgt_len)), -100, dtype=np.int64)
        for i, e in enumerate(examples):
            ids[i, : src_len[i]] = e["input_ids"]
            labels[i, : tgt_len[i]] = e["labels"]
        mask = (np.arange(width)[None, :] < src_len[:, None]).astype(np.int64)
        batch = {
            "input_ids": torch.from_numpy(ids),
            "attention_mask": torch.from_numpy(mask),
            "labels": torch.from_numpy(labels),
        }
        if any(e.get("soft") for e in examples):  # (batch, 2 decisions, k listed) soft targets
            k = max(len(d[1]) for e in examples for d in e.get("soft", []))
            pos = np.full((n, 2), -1, dtype=np.int64)
            sid = np.zeros((n, 2, k), dtype=np.int64)
            sp = np.zeros((n, 2, k), dtype=np.float32)
            other = np.zeros((n, 2), dtype=np.float32)
            for i, e in enumerate(examples):
                for j, (p, toks, probs, rest) in enumerate(e.get("soft", [])):
                    pos[i, j], other[i, j] = p, rest
                    sid[i, j, : len(toks)] = toks
                    sp[i, j, : len(probs)] = probs
            batch.update(
                soft_pos=torch.from_numpy(pos),
                soft_ids=torch.from_numpy(sid),
                soft_p=torch.from_numpy(sp),
                soft_other=torch.from_numpy(other),
            )
        # the course prior at each next-course position, the job prior at each next-job position
        for key, name in (("prior", "prior"), ("job_prior", "jobprior")):
            if any(key in e for e in examples):
                pos, bias = _prior_columns(examples, key)
                batch.update({f"{name}_pos": pos, f"{name}_bias": bias})
        return batch

    return collate


def _prior_columns(examples: list[dict], key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(label position [batch], prior [batch, n]) of the examples carrying ``key`` = (position,
    vector); -1 and zeros for the others."""
    n = next(len(e[key][1]) for e in examples if key in e)
    pos = np.full((len(examples),), -1, dtype=np.int64)
    bias = np.zeros((len(examples), n), dtype=np.float32)
    for i, e in enumerate(examples):
        if key in e:
            pos[i] = e[key][0]
            bias[i] = e[key][1]
    return torch.from_numpy(pos), torch.from_numpy(bias)


def source_multiple(family: str, mixed_precision: str) -> int:
    """8 for an encoder-decoder trained in bf16, else 1. The bf16 matmul kernels (oneDNN's on a CPU)
    are built for each shape and cached: with the source width rounded up to a multiple of 8 a run
    sees about an eighth of the shapes. Measured on the tiny T5, bf16, 2 CPU cores: 379 / 424 / 503
    against 347 / 337 / 443 examples/s in three alternations, peak RSS 1.04 against 1.49 GB; float32
    (MKL, no kernel cache) was the same either way. Not for a causal LM, whose labels are its inputs."""
    return 8 if family == "seq2seq" and mixed_precision == "bf16" else 1


def make_dataloader(
    examples: list[dict], tokenizer, cfg: Config, device, multiple: int = 1
) -> tuple[LengthGroupedBatches, DataLoader]:
    """Length-grouped, dynamically padded batches (source widths a multiple of ``multiple``);
    pinned for a non-blocking copy to a GPU."""
    sampler = LengthGroupedBatches(
        [len(e["input_ids"]) for e in examples],
        cfg.train.batch_size,
        cfg.train.seed,
        target_lengths=[len(e["labels"]) for e in examples],
    )
    # its own generator: creating an iterator then draws its seed from here, not from the global
    # RNG that dropout uses, so a resumed run's dropout masks match the uninterrupted run's
    dataloader = DataLoader(
        examples,
        batch_sampler=sampler,
        collate_fn=make_collate(tokenizer.pad_token_id, multiple),
        generator=torch.Generator().manual_seed(cfg.train.seed),
        pin_memory=torch.device(device).type == "cuda",
    )
    return sampler, dataloader


def decision_token_ids(tokenizer, data_dir: str | Path) -> torch.Tensor | None:
    """Token ids of the decisions in a target (catalog course and job names, and "stay") when
    each is a single token (the tiny T5's catalog tokens); None otherwise."""
    soft = SoftTargets.from_catalog(tokenizer, data_dir)
    if soft is None:
        return None
    return torch.tensor(sorted(set(soft.course_token.values()) | set(soft.job_token.values())))


def soft_targets_for(cfg: Config, tokenizer, family: str) -> SoftTargets | None:
    """The run's soft targets (``train.soft_targets``): the catalog's tokens where the model is
    seq2seq with one token per catalog name and the dataset has its catalog, else None; with
    ``always``, a clear error where they cannot be had."""
    if cfg.train.soft_targets == "never":
        return None
    soft = SoftTargets.from_catalog(tokenizer, cfg.data.data_dir) if family == "seq2seq" else None
    if soft is None and cfg.train.soft_targets == "always":
        raise ValueError(
            "--train.soft-targets always needs a seq2seq model with one token per catalog name (model.kind "
            "tiny_t5 with entity_tokens) and a dataset with its catalog/ folder; use auto or never"
        )
    return soft


def soft_targets_in_use(cfg: Config, soft: SoftTargets | None, examples: list[dict]) -> SoftTargets | None:
    """``soft`` where some encoded example carries soft targets, else None (logged; an error with
    ``train.soft_targets always``)."""
    if soft is None:
        if cfg.train.soft_targets == "auto":
            log.info("soft targets: not available for this model/dataset; training on the sampled choices")
        return None
    with_soft = sum(1 for e in examples if e.get("soft"))
    if with_soft == 0 and cfg.train.soft_targets == "always":
        raise ValueError(
            f"--train.soft-targets always: no row of {cfg.data.data_dir}/train.jsonl has probs_visible"
        )
    log.info("soft targets on %d of %d examples", with_soft, len(examples))
    return soft if with_soft else None
