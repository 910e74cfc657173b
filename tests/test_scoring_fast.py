"""The fast scoring path (lean T5 forward, direct tokenisation, memo) scores as transformers does."""

import copy
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import T5Config, T5ForConditionalGeneration

from careerpath.core.profile import ResolvedProfile
from careerpath.model.scoring import CatalogScorer, _LeanT5
from careerpath.serving.recommend import Recommender


@pytest.fixture(scope="module")
def rec(tiny_model):
    return Recommender.from_pretrained(tiny_model, use_embeddings=False)


def _reference(scorer: CatalogScorer, model=None) -> CatalogScorer:
    """The same scorer on transformers' own forward and tokenisation, remembering nothing."""
    ref = CatalogScorer(
        model or scorer.model, scorer.tok, scorer.catalog, prior=scorer.prior, job_prior=scorer.job_prior
    )
    ref._lean = None
    ref._tokenise_direct = lambda texts: None
    ref._remember = lambda *args: None
    return ref


def _profiles(cat, n: int, seed: int):
    rng = random.Random(seed)
    jobs, skills, courses = list(cat.jobs), list(cat.skills), list(cat.courses)
    out = []
    for _ in range(n):
        prof = ResolvedProfile(
            job=rng.choice(jobs + [None]),
            goal=rng.choice(jobs),
            skills=rng.sample(skills, rng.randint(0, 8)),
            courses=rng.sample(courses, rng.randint(0, 5)),
        )
        out.append((prof.input_text(cat), sorted(prof.skills)))
    return out


def _assert_same_ranking(a: np.ndarray, b: np.ndarray, k: int = 10, tol: float = 1e-4) -> None:
    np.testing.assert_allclose(a, b, atol=tol)
    for row_a, row_b in zip(np.atleast_2d(a), np.atleast_2d(b)):
        top_a = np.argsort(-row_a, kind="stable")[:k]
        top_b = np.argsort(-row_b, kind="stable")[:k]
        for i, j in zip(top_a, top_b):  # any difference is a tie up to float noise
            assert i == j or abs(row_a[i] - row_a[j]) < tol


@pytest.mark.slow
def test_fast_scorer_matches_transformers_forward(rec):
    scorer = rec.scorer
    assert scorer.fast and scorer._lean is not None, "the tiny T5 takes the lean path"
    ref = _reference(scorer)
    items = _profiles(rec.catalog, 24, seed=0)
    texts, skills = [t for t, _ in items], [s for _, s in items]
    for batch in (1, 3, 8):  # batches pad the shorter inputs
        for i in range(0, len(texts), batch):
            fast_c, fast_j = scorer.score(texts[i : i + batch], skills[i : i + batch])
            ref_c, ref_j = ref.score(texts[i : i + batch], skills[i : i + batch])
            _assert_same_ranking(fast_c, ref_c)
            _assert_same_ranking(fast_j, ref_j)
            assert np.allclose(np.exp(fast_c).sum(1), 1.0) and np.allclose(np.exp(fast_j).sum(1), 1.0)
            _assert_same_ranking(scorer.score_courses(texts[i : i + batch]), ref_c)


def _random_t5_config(**variant) -> T5Config:
    """A small T5 whose inputs outrun relative_attention_max_distance (log-spaced buckets too)."""
    return T5Config(
        vocab_size=97,
        d_model=32,
        d_kv=8,
        num_heads=4,
        d_ff=48,
        num_layers=2,
        num_decoder_layers=3,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=12,
        dropout_rate=0.0,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
        **variant,
    )


@pytest.mark.parametrize(
    "variant",
    [
        {"feed_forward_proj": "relu", "tie_word_embeddings": True},
        {"feed_forward_proj": "gated-gelu", "tie_word_embeddings": False},
    ],
)
def test_lean_t5_matches_transformers_on_random_weights(variant):
    torch.manual_seed(0)
    cfg = _random_t5_config(**variant)
    model = T5ForConditionalGeneration(cfg).eval()
    lean = _LeanT5.build(model)
    assert lean is not None
    ids = torch.randint(2, 97, (3, 30))
    mask = torch.ones_like(ids)
    mask[1, 21:] = 0  # padded rows
    mask[2, 9:] = 0
    ids = ids * mask
    dec = torch.randint(2, 97, (4, 7))
    last = torch.tensor([6, 2, 4, 0])
    rows = torch.tensor([0, 1, 2, 1])
    cands = (3, 5, 8, 13, 21, 34, 55, 89)
    with torch.inference_mode():
        hidden = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        ours = lean.encode(ids, mask)
        real = mask.bool()
        assert torch.allclose(ours[real], hidden[real], atol=1e-5)
        logits = model(
            encoder_outputs=(hidden[rows],), attention_mask=mask[rows], decoder_input_ids=dec, use_cache=False
        ).logits[torch.arange(4), last][:, list(cands)]
        mine = lean.next_logits(lean.context(ours, mask), rows, dec, last, cands)
        assert torch.allclose(mine, logits, atol=1e-4)
        # the fused weights follow in-place weight updates
        model.decoder.block[1].layer[2].layer_norm.weight.mul_(1.7)
        model.encoder.block[0].layer[0].SelfAttention.q.weight.add_(0.05)
        hidden = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        logits = model(
            encoder_outputs=(hidden[rows],), attention_mask=mask[rows], decoder_input_ids=dec, use_cache=False
        ).logits[torch.arange(4), last][:, list(cands)]
        ours = lean.encode(ids, mask)
        mine = lean.next_logits(lean.context(ours, mask), rows, dec, last, cands)
        assert torch.allclose(ours[real], hidden[real], atol=1e-5)
        assert torch.allclose(mine, logits, atol=1e-4)


def test_lean_path_steps_aside_when_it_would_not_mirror_the_model(rec):
    model = copy.deepcopy(rec.scorer.model)
    handle = model.decoder.register_forward_hook(lambda module, args, out: out)
    assert _LeanT5.build(model) is None
    handle.remove()
    assert _LeanT5.build(model) is not None
    scorer = CatalogScorer(model, rec.scorer.tok, rec.catalog)
    model.train()
    assert not scorer._lean_on()
    model.eval()
    assert scorer._lean_on()
    assert _LeanT5.build(copy.deepcopy(model).to(torch.float64)) is None


def test_direct_tokenisation_matches_the_tokenizer(rec):
    scorer = rec.scorer
    texts = [t for t, _ in _profiles(rec.catalog, 12, seed=1)] + ["", "unknown wörds </s> <pad> ✓"]
    for i in range(0, len(texts), 3):
        chunk = texts[i : i + 3]
        direct = scorer._tokenise_direct(chunk)
        scorer.tok.truncation_side = "right"
        slow = scorer.tok(
            chunk, padding=True, truncation=True, max_length=scorer.max_source_length, return_tensors="pt"
        )
        assert set(direct) == set(slow.keys())
        assert all(torch.equal(direct[k], slow[k]) for k in direct)
    # a text longer than max_source_length goes through the tokenizer, which truncates it
    long_text = texts[0] + " | " + ", ".join(["python"] * 400)
    assert scorer._tokenise_direct([long_text]) is None
    _assert_same_ranking(scorer.score_courses([long_text]), _reference(scorer).score_courses([long_text]))


def test_memo_is_dropped_when_the_weights_change(rec):
    model = copy.deepcopy(rec.scorer.model)
    scorer = CatalogScorer(model, rec.scorer.tok, rec.catalog)
    text, skills = _profiles(rec.catalog, 1, seed=2)[0]
    before = scorer.score([text], [skills])[0]
    assert np.array_equal(scorer.score_courses([text]), before)  # remembered
    with torch.no_grad():
        model.decoder.final_layer_norm.weight.mul_(3.0)
    after = scorer.score_courses([text])
    _assert_same_ranking(after, _reference(scorer, model).score_courses([text]))
    assert not np.allclose(after, before, atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize(
    "variant",
    [
        {"feed_forward_proj": "relu", "tie_word_embeddings": True},
        {"feed_forward_proj": "gated-gelu", "tie_word_embeddings": False},
    ],
)
@pytest.mark.parametrize("threads", [1, 2])  # the tolerances hold whatever BLAS splits the work into
def test_lean_training_forward_matches_transformers_logits_and_gradients(variant, threads):
    """Training through LeanT5Training is training the model: same logits, same loss, same
    gradient on every parameter, then the same weights after optimizer steps."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        _lean_training_matches(variant)
    finally:
        torch.set_num_threads(before)


def _lean_training_matches(variant: dict) -> None:
    from careerpath.model.modeling import SeparateHeadT5, has_separate_head
    from careerpath.model.scoring import LeanT5Training

    torch.manual_seed(1)
    cfg = _random_t5_config(**variant)
    # transformers 5 ties the plain T5's output layer whatever the config says: untied is SeparateHeadT5
    cls = T5ForConditionalGeneration if variant["tie_word_embeddings"] else SeparateHeadT5
    model = cls(cfg).train()
    assert has_separate_head(model) is not variant["tie_word_embeddings"]
    twin = copy.deepcopy(model)
    lean = LeanT5Training.build(twin)
    assert lean is not None
    ids = torch.randint(2, 97, (3, 30))
    mask = torch.ones_like(ids)
    mask[1, 21:] = 0
    mask[2, 9:] = 0
    ids = ids * mask
    labels = torch.randint(2, 97, (3, 9))
    labels[0, 6:] = -100  # padded targets
    labels[2, 4:] = -100
    # plain SGD: the update is linear in the gradient, so equal gradients (checked to 1e-5 above)
    # give equal weights to the same tolerance on any BLAS and thread count. AdamW divides by
    # sqrt(v): a near-zero gradient's float noise becomes a step of lr, which is not a difference in
    # the forward (a fresh machine's thread count once failed the weight check that way)
    opt_a = torch.optim.SGD(model.parameters(), lr=1e-2)
    opt_b = torch.optim.SGD(twin.parameters(), lr=1e-2)
    for step in range(3):
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        logits = lean.logits(ids, mask, labels)
        assert torch.allclose(logits, out.logits, atol=1e-4), step
        loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        assert torch.allclose(loss, out.loss, atol=1e-5)
        out.loss.backward()
        loss.backward()
        for (name, a), b in zip(model.named_parameters(), twin.parameters(), strict=True):
            assert torch.allclose(a.grad, b.grad, atol=1e-5), (step, name)
        opt_a.step(), opt_b.step(), opt_a.zero_grad(), opt_b.zero_grad()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    # dropout would not be mirrored
    assert (
        LeanT5Training.build(T5ForConditionalGeneration(T5Config(**{**cfg.to_dict(), "dropout_rate": 0.1})))
        is None
    )


def test_rms_norm_with_its_gradient_written_out_is_torchs():
    """The training forward's RMSNorm: torch's values and gradients (float32, at the training
    forward's shapes), and its written-out gradient is the true one (float64 gradcheck)."""
    from careerpath.model.scoring_lean import RMSNorm

    x = torch.randn(3, 5, 8, dtype=torch.float64, requires_grad=True)
    w = torch.randn(8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: RMSNorm.apply(a, b, 1e-6), (x, w))
    # without a weight (an encoder norm whose weight is folded into the matrix after it)
    assert torch.autograd.gradcheck(lambda a: RMSNorm.apply(a, None, 1e-6), (x,))
    assert torch.allclose(RMSNorm.apply(x, None, 1e-6), F.rms_norm(x, (8,), None, 1e-6))
    x = (3 * torch.randn(16, 30, 128)).requires_grad_()
    w = torch.randn(128, requires_grad=True)
    ours, theirs = RMSNorm.apply(x, w, 1e-6), F.rms_norm(x, (128,), w, 1e-6)
    assert torch.allclose(ours, theirs, atol=1e-6)
    g = torch.randn_like(ours)
    for a, b in zip(
        torch.autograd.grad(ours, (x, w), g), torch.autograd.grad(theirs, (x, w), g), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)


def test_lean_training_forward_matches_with_the_content_head(tiny_dataset):
    """careerpath's own model (content head: folded input and output matrices from one shared
    content product): the lean forward's logits and every gradient equal transformers' forward,
    the content matrix and the course id part included."""
    import json

    from careerpath.core.config import load_config
    from careerpath.model import modeling
    from careerpath.model.scoring import LeanT5Training
    from tests.conftest import ROOT, TINY_MODEL_ARGS

    cfg = load_config(
        ["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--data.data-dir", str(tiny_dataset)]
        + TINY_MODEL_ARGS
    )
    texts = [json.loads(x)["input_text"] for x in (tiny_dataset / "train.jsonl").read_text().splitlines()]
    torch.manual_seed(0)
    model, tok, _ = modeling.build(cfg, texts)
    assert isinstance(model.lm_head, modeling.ItemContentHead) and len(model.lm_head.id_rows)
    with torch.no_grad():  # move the zero-initialised content and course id part off zero
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    model.train()
    twin = copy.deepcopy(model)
    lean = LeanT5Training.build(twin)
    assert lean is not None
    enc = tok(texts[:4], padding=True, truncation=True, max_length=64, return_tensors="pt")
    labels = tok(texts[4:8], padding=True, truncation=True, max_length=12, return_tensors="pt").input_ids
    labels[labels == tok.pad_token_id] = -100
    out = model(input_ids=enc.input_ids, attention_mask=enc.attention_mask, labels=labels)
    logits = lean.logits(enc.input_ids, enc.attention_mask, labels)
    assert torch.allclose(logits, out.logits, atol=1e-4)
    out.loss.backward()
    F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100).backward()
    for (name, a), b in zip(model.named_parameters(), twin.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-5), name
    assert model.lm_head.content.grad.abs().max() > 0 and model.lm_head.item_id.grad.abs().max() > 0


def test_lean_training_forward_runs_under_the_accelerators_bf16_autocast(
    tiny_dataset, fresh_accelerator_state
):
    """With bf16 mixed precision on CPU, accelerate wraps the model's forward in autocast; the lean
    forward then runs under the same autocast (its matmuls in bfloat16; cross-attention's fused
    kernel in float32) and stays as close to the float32 model as transformers' own bf16 forward."""
    import json

    from careerpath.core.config import load_config
    from careerpath.model import modeling
    from careerpath.model.scoring import LeanT5Training
    from careerpath.training import training, training_loop
    from tests.conftest import ROOT, TINY_MODEL_ARGS

    cfg = load_config(
        ["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--data.data-dir", str(tiny_dataset)]
        + TINY_MODEL_ARGS
        + ["--train.mixed-precision", "bf16"]
    )
    texts = [json.loads(x)["input_text"] for x in (tiny_dataset / "train.jsonl").read_text().splitlines()]
    torch.manual_seed(0)
    model, tok, _ = modeling.build(cfg, texts)
    assert isinstance(model.lm_head, modeling.ItemContentHead)  # its folded weights under autocast too
    with torch.no_grad():  # move the zero-initialised course rows and content off zero
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    model.train()
    reference = copy.deepcopy(model)  # float32, no autocast
    accelerator = training.make_accelerator(cfg)
    assert accelerator.mixed_precision == "bf16" and accelerator.device.type == "cpu"
    wrapped = accelerator.prepare(copy.deepcopy(model))
    lean = training_loop.lean_forward(wrapped, cfg, accelerator)
    assert isinstance(lean, LeanT5Training) and lean.autocast is not None
    # only accelerate's own wrapper is looked past: without autocast the wrapped model is refused
    assert LeanT5Training.build(wrapped) is None

    enc = tok(texts[:4], padding=True, truncation=True, max_length=64, return_tensors="pt")
    labels = tok(texts[4:8], padding=True, truncation=True, max_length=12, return_tensors="pt").input_ids
    labels[labels == tok.pad_token_id] = -100
    batch = {"input_ids": enc.input_ids, "attention_mask": enc.attention_mask, "labels": labels}

    def logits_and_grads(fn, params):
        for p in params:
            p.grad = None
        logits = fn()
        F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100).backward()
        return logits.detach(), [p.grad.clone() for p in params]

    ref, ref_g = logits_and_grads(lambda: reference(**batch).logits, list(reference.parameters()))
    mine, mine_g = logits_and_grads(lambda: lean.logits(**batch), list(wrapped.parameters()))
    hf, hf_g = logits_and_grads(lambda: wrapped(**batch).logits, list(wrapped.parameters()))
    assert mine.dtype == torch.float32
    err_mine, err_hf = (mine - ref).abs().max(), (hf - ref).abs().max()
    assert 0 < err_mine < 0.1 and err_hf > 0  # bfloat16 did the matmuls (not bit-equal to float32)
    assert err_mine <= 2 * err_hf + 1e-3, (err_mine, err_hf)
    for name, r, a, b in zip([n for n, _ in reference.named_parameters()], ref_g, mine_g, hf_g, strict=True):
        if r.norm() < 1e-6:
            continue
        cos_mine, cos_hf = (
            F.cosine_similarity(r.flatten(), a.flatten(), 0),
            F.cosine_similarity(r.flatten(), b.flatten(), 0),
        )
        assert cos_mine > 0.99 and cos_mine > cos_hf - 0.01, (name, cos_mine, cos_hf)
