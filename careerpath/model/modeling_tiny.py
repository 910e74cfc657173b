"""The tiny T5 trained from scratch: its byte-level BPE tokenizer (one token per catalog name), its
config, and course and job embeddings started from their skills.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

from careerpath.core.catalog import load_catalog
from careerpath.core.config import ModelConfig
from careerpath.model.modeling_heads import SeparateHeadT5

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"


def train_tokenizer(
    texts: list[str], vocab_size: int, min_frequency: int = 2, entity_names: list[str] | None = None
) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on the corpus; byte-level decoding reproduces spaces and punctuation
    exactly, so generations parse. Every catalog name (``entity_names``) also becomes one token,
    space included (the text format always puts a space before a name): a course is then a single
    prediction, inputs are a third shorter, and the scorer ranks the catalog in one short pass."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[PAD, EOS, UNK],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    eos_id = tok.token_to_id(EOS)
    tok.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, eos_id)])
    if entity_names:
        names = sorted({" " + n for n in entity_names}, key=lambda n: (-len(n), n))
        tok.add_tokens([AddedToken(n, single_word=True, normalized=False) for n in names])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        clean_up_tokenization_spaces=False,
        model_max_length=1024,
    )


def dataset_catalog(data_dir: str | Path):
    """The catalog saved with a dataset (its ``catalog/`` folder), or None when it has none."""
    folder = Path(data_dir) / "catalog"
    if not folder.is_dir():
        return None
    return load_catalog(folder)


def catalog_names(data_dir: str | Path) -> list[str]:
    """Skill, course and job names of the dataset's catalog (empty when it has none)."""
    cat = dataset_catalog(data_dir)
    if cat is None:
        return []
    return (
        [s.name for s in cat.skills.values()]
        + [c.title for c in cat.courses.values()]
        + [j.title for j in cat.jobs.values()]
    )


@torch.no_grad()
def init_entity_embeddings(model, tokenizer, catalog, noise: float = 0.5, seed: int = 0) -> int:
    """Start each course and job token from the skills it teaches or requires.

    A course embedding begins as the (rescaled) sum of its skills' embeddings and a job's as the
    importance-weighted sum of its required skills', plus noise so that items with equal skills
    differ. The model then starts out knowing which courses close which jobs' gaps, instead of
    having to discover the catalog from 10k examples. Returns the number of rows set.
    """
    emb = model.get_input_embeddings().weight
    gen = torch.Generator().manual_seed(seed)
    unk = tokenizer.unk_token_id

    def tid(name: str) -> int | None:
        i = tokenizer.convert_tokens_to_ids(" " + name)
        return None if i is None or i == unk else i

    skill_ids = {s.id: tid(s.name) for s in catalog.skills.values()}
    items = [(c.title, {s: 1.0 for s in c.skills}) for c in catalog.courses.values()]
    items += [(j.title, j.skills) for j in catalog.jobs.values()]
    done = 0
    std = emb.std().item()
    for title, weights in items:
        row = tid(title)
        parts = [(skill_ids.get(s), w) for s, w in weights.items() if skill_ids.get(s) is not None]
        if row is None or not parts or row in skill_ids.values():
            continue
        vec = sum(w * emb[i] for i, w in parts) / (sum(w * w for _, w in parts) ** 0.5)
        emb[row] = vec + noise * std * torch.randn(emb.shape[1], generator=gen)
        done += 1
    return done


def build_tiny_t5(m: ModelConfig, tokenizer: PreTrainedTokenizerFast) -> T5ForConditionalGeneration:
    """A small T5 with random weights, sized for CPU training in minutes; with
    ``tie_embeddings: false`` a :class:`SeparateHeadT5`."""
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=m.d_model,
        d_kv=m.d_model // m.num_heads,
        d_ff=m.d_ff,
        num_layers=m.num_layers,
        num_decoder_layers=m.num_layers,
        num_heads=m.num_heads,
        dropout_rate=m.dropout,
        feed_forward_proj="relu",
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=m.tie_embeddings,
    )
    return T5ForConditionalGeneration(config) if m.tie_embeddings else SeparateHeadT5(config)
