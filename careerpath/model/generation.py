"""Batched generation of targets and the validation metrics computed on them.

Metrics use ``sacrebleu`` directly (``evaluate.load`` would fetch a script from the Hub).
"""

from __future__ import annotations

import sacrebleu
import torch
from transformers import LogitsProcessorList

from careerpath.core.textformat import STAY, parse_target

# A causal LM sees "<input>\n" and continues with the target; training and inference share this.
PROMPT_SEPARATOR = "\n"


def build_prompt(input_text: str) -> str:
    return input_text + PROMPT_SEPARATOR


def _encode_batch(tokenizer, texts: list[str], kind: str, max_source_length: int, device):
    if kind == "causal":
        tokenizer.padding_side = "left"  # generated tokens must follow the prompt directly
        texts = [build_prompt(t) for t in texts]
        tokenizer.truncation_side = "left"
        enc = tokenizer(
            texts,
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=max_source_length,
            add_special_tokens=False,
        )
    else:
        tokenizer.truncation_side = "left"  # keep the most recent history and courses
        enc = tokenizer(
            texts, return_tensors="pt", padding=True, truncation=True, max_length=max_source_length
        )
    return {k: v.to(device) for k, v in enc.items()}


@torch.no_grad()
def generate(
    model,
    tokenizer,
    kind: str,
    input_texts: list[str],
    *,
    batch_size: int = 64,
    max_new_tokens: int = 48,
    num_beams: int = 1,
    max_source_length: int = 256,
    synced_gpus: bool = False,
    prior=None,
    job_prior=None,
) -> list[str]:
    """Generate one target text per input. Inputs are length-sorted so batches pad little;
    the result comes back in the caller's order. ``prior``: the model's
    :class:`~careerpath.model.prior.CoursePrior`, added to the next-course logits; ``job_prior``: its
    :class:`~careerpath.model.job_prior.JobPrior`, added at the next-job step given the course written."""
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(input_texts)), key=lambda i: len(input_texts[i]))
    out: list[str] = [""] * len(input_texts)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        enc = _encode_batch(tokenizer, [input_texts[i] for i in idx], kind, max_source_length, device)
        extra = {}
        texts = [input_texts[i] for i in idx]
        processors = [p.processor(tokenizer, texts, num_beams) for p in (prior, job_prior) if p is not None]
        if processors:
            extra["logits_processor"] = LogitsProcessorList(processors)
        ids = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            synced_gpus=synced_gpus,
            **extra,
        )
        if kind == "causal":
            ids = ids[:, enc["input_ids"].shape[1] :]
        texts = tokenizer.batch_decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        for i, text in zip(idx, texts, strict=True):
            out[i] = text.strip()
    return out


def _f1(pred: list[str], ref: list[str]) -> float:
    p, r = set(pred), set(ref)
    if not p and not r:
        return 1.0
    hit = len(p & r)
    return 0.0 if hit == 0 else 2 * hit / (len(p) + len(r))


def compute_metrics(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Next-course / next-job accuracy (also on job moves only), skills F1, exact match and BLEU."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not references:
        return {}
    preds = [parse_target(p) for p in predictions]
    for step, text in zip(preds, predictions, strict=True):
        if "next_job:" not in text:
            step.next_job = ""  # a broken generation is not a "stay" answer
    refs = [parse_target(r) for r in references]
    n = len(refs)
    moves = [(p, r) for p, r in zip(preds, refs, strict=True) if r.next_job != STAY]
    return {
        "next_course_acc": sum(p.next_course == r.next_course for p, r in zip(preds, refs, strict=True)) / n,
        "next_job_acc": sum(p.next_job == r.next_job for p, r in zip(preds, refs, strict=True)) / n,
        "next_job_acc_moves": (sum(p.next_job == r.next_job for p, r in moves) / len(moves))
        if moves
        else 0.0,
        "skills_f1": sum(_f1(p.skills_gained, r.skills_gained) for p, r in zip(preds, refs, strict=True)) / n,
        "exact_match": sum(p.strip() == r.strip() for p, r in zip(predictions, references, strict=True)) / n,
        "bleu": sacrebleu.corpus_bleu(predictions, [references]).score,
        "num_examples": n,
    }
