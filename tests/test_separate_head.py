"""The tiny T5's output layer is a matrix of its own (transformers 5 ties T5's whatever the config
says): checked on the tensors after the build, after training and after a save/load round trip."""

from __future__ import annotations

import copy
import json

import torch
from safetensors import safe_open
from transformers import AutoModelForSeq2SeqLM

from careerpath.core.catalog import load_catalog
from careerpath.core.config import load_config
from careerpath.model import modeling
from careerpath.model.modeling import SeparateHeadT5, has_separate_head, load_for_inference
from tests.conftest import ROOT, TINY_MODEL_ARGS


def _course_rows(tok, catalog) -> list[int]:
    return [tok.convert_tokens_to_ids(" " + c.title) for c in catalog.courses.values()]


def test_build_gives_a_separate_head_with_flat_course_logits(tiny_dataset):
    cfg = load_config(
        ["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--data.data-dir", str(tiny_dataset)]
        + TINY_MODEL_ARGS
    )
    assert cfg.model.tie_embeddings is False
    texts = [json.loads(x)["input_text"] for x in (tiny_dataset / "train.jsonl").read_text().splitlines()]
    model, tok, _ = modeling.build(cfg, texts)
    assert isinstance(model, SeparateHeadT5) and has_separate_head(model)
    emb, head = model.get_input_embeddings().weight, model.lm_head.weight
    rows = _course_rows(tok, load_catalog(tiny_dataset / "catalog"))
    # course logits start at zero (the model starts as its prior); course inputs keep their skills
    assert torch.count_nonzero(head[rows]) == 0
    assert all(torch.count_nonzero(emb[r]) > 0 for r in rows)
    # one update moves the two matrices apart: they are not one tensor
    before = emb.detach().clone()
    with torch.no_grad():
        head.add_(1.0)
    assert torch.equal(emb, before)


def test_saved_model_keeps_both_matrices_and_loads_untied(tiny_model):
    with safe_open(str(tiny_model / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        head, shared = f.get_tensor("lm_head.weight"), f.get_tensor("shared.weight")
    assert {"lm_head.weight", "shared.weight"} <= keys and not torch.equal(head, shared)
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["architectures"] == ["T5ForConditionalGeneration"] and config["separate_lm_head"] is True
    model, _, _ = load_for_inference(tiny_model)
    assert isinstance(model, SeparateHeadT5) and has_separate_head(model)
    assert torch.equal(model.lm_head.weight, head) and torch.equal(
        model.get_input_embeddings().weight, shared
    )
    # others load it with the plain Auto class, untied as well (both matrices are in the file)
    other = AutoModelForSeq2SeqLM.from_pretrained(tiny_model)
    assert has_separate_head(other) and torch.equal(other.lm_head.weight, head)
    # a re-tie (as transformers does after loading or resizing) leaves the head alone
    model.tie_weights()
    assert has_separate_head(model) and torch.equal(model.lm_head.weight, head)


def _built(tiny_dataset, *extra):
    cfg = load_config(
        ["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--data.data-dir", str(tiny_dataset)]
        + TINY_MODEL_ARGS
        + list(extra)
    )
    texts = [json.loads(x)["input_text"] for x in (tiny_dataset / "train.jsonl").read_text().splitlines()]
    return modeling.build(cfg, texts)


def test_content_head_shares_what_it_learns_across_a_providers_courses(tiny_dataset):
    model, tok, _ = _built(tiny_dataset)
    head = model.lm_head
    assert isinstance(head, modeling.ItemContentHead)
    catalog = load_catalog(tiny_dataset / "catalog")
    rows, feats, names = modeling.item_features(catalog, tok)
    courses = list(catalog.courses.values())
    # every course and job with a token has a content row; features name what they are
    assert len(rows) == len(courses) + len(catalog.jobs)
    first = courses[0]
    x = feats[rows.tolist().index(tok.convert_tokens_to_ids(" " + first.title))]
    assert x[names.index(f"provider={first.provider}")] == 1.0 and x[names.index("is_course")] == 1.0
    assert abs(float(x[[i for i, n in enumerate(names) if n.startswith("skill=")]].norm()) - 1.0) < 1e-6
    # the content matrix starts near zero (the head starts within a few hundredths of the plain
    # separate head), the courses' id part is a separate parameter scaled by content_id_scale
    assert 0 < head.content.abs().max() < 0.02
    assert (modeling.output_weight(model) - head.weight).abs().max() < 0.05
    assert head.id_scale == 0.1 and head.item_id.shape == (len(courses), head.in_features)
    # raise one course's logit for a fixed decoder state h by one SGD step on the content matrix:
    # every item's logit moves by lr |h|^2 (x_item . x_course), so what the step learned is shared
    # by the items that have what the course has (its provider above all), and by no id row
    h = torch.randn(head.in_features, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.SGD([head.content], lr=0.01)
    before = (modeling.output_weight(model) @ h).detach()
    opt.zero_grad()
    (-(head(h[None])[0, tok.convert_tokens_to_ids(" " + first.title)])).backward()
    opt.step()
    gain = ((modeling.output_weight(model) @ h).detach() - before)[rows]
    expected = 0.01 * h.dot(h) * (feats @ x)
    assert torch.allclose(gain, expected, rtol=1e-3, atol=1e-4)
    provider = names.index(f"provider={first.provider}")
    same = feats[:, provider] == 1
    assert (
        same.sum() > 1
        and (gain[same].mean() - gain[~same & (feats[:, 0] == 1)].mean()) > 0.01 * h.dot(h) * 0.9
    )
    assert torch.count_nonzero(head.weight[rows[feats[:, 0] == 1]]) == 0  # course id rows untouched
    # the course's own id part learns id_scale as fast (its gradient is scaled by it)
    own = (head.id_rows == tok.convert_tokens_to_ids(" " + first.title)).nonzero().item()
    assert torch.allclose(head.item_id.grad[own], -0.1 * h, atol=1e-6)
    assert torch.count_nonzero(head.weight.grad[head.id_rows]) == 0
    # and so in a deep copy of the model (a tensor hook on the weight would not be copied)
    twin = copy.deepcopy(model)
    twin.lm_head(h[None]).sum().backward()
    grad = twin.lm_head.weight.grad
    assert torch.count_nonzero(grad[twin.lm_head.id_rows]) == 0 and torch.count_nonzero(grad) > 0


def test_content_head_folds_into_a_plain_separate_head_on_save(tiny_dataset, tmp_path):
    model, tok, _ = _built(tiny_dataset)
    with torch.no_grad():
        model.lm_head.content.normal_(0, 0.1)
    folded = modeling.output_weight(model).detach().clone()
    assert not torch.equal(folded, model.lm_head.weight)
    modeling.save_model(model, tok, tmp_path / "m", "tiny_t5")
    with safe_open(str(tmp_path / "m" / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        assert torch.equal(f.get_tensor("lm_head.weight"), folded)
    assert not any("content" in k or "item_" in k for k in keys)
    # the in-memory model keeps its content head after the save
    assert isinstance(model.lm_head, modeling.ItemContentHead)
    loaded, _, _ = load_for_inference(tmp_path / "m")
    model.eval()
    enc = tok(["goal: data scientist | job: data analyst"], return_tensors="pt")
    start = torch.full((1, 1), model.config.decoder_start_token_id)
    with torch.no_grad():
        a = model(**enc, decoder_input_ids=start).logits
        b = loaded(**enc, decoder_input_ids=start).logits
    assert torch.allclose(a, b, atol=1e-5)
    # the lean scorer reads the folded matrix too
    from careerpath.model.scoring import _LeanT5

    lean = _LeanT5.build(model)
    assert lean is not None and torch.equal(lean._out_weights((5, 7)), folded[[5, 7]].t())


def test_content_head_can_be_turned_off(tiny_dataset):
    model, _, _ = _built(tiny_dataset, "--model.content-head", "false")
    assert has_separate_head(model) and not isinstance(model.lm_head, modeling.ItemContentHead)


def test_model_card_describes_the_output_layer_that_was_built(tiny_model):
    card = (tiny_model / "README.md").read_text()
    assert "The output layer is a matrix of its own" in card
    assert "vector computed from the item's content" in card and "scaled by 0.1" in card
