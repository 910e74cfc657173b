"""Imports only point down: every module of ``careerpath`` and ``data_prep`` sits in one layer of
``LAYERS`` (bottom first) and imports only from its own layer or below, at module level or inside a
function alike. This table is the one place the layers are written; docs/testing.md ("Layout")
shows it and a test below keeps the two in step.

A new module goes into the lowest layer its imports allow; an import that would point up means the
imported piece belongs lower down (move it, and keep the old name only where code outside imports it).
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("careerpath", "data_prep")

# (layer, what it is, its modules); a name ending in ".*" covers a whole sub-package
LAYERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "core",
        "the catalog, its text format, the gap rule, profiles, config, metrics, shared helpers",
        (
            "careerpath",
            "data_prep",
            "data_prep.textformat",
            "data_prep.cleaning",
            "data_prep.catalog",
            "data_prep.catalog_model",
            "data_prep.catalog_reader",
            "data_prep.progression",
            "data_prep.context",
            "careerpath.config",
            "careerpath.cli_common",
            "careerpath.atomic",
            "careerpath.metrics",
            "careerpath.embeddings",
            "careerpath.profile",
        ),
    ),
    (
        "data",
        "taxonomy importers, tagging, clustering, synthesis, the dataset build, split reader, feedback store",
        (
            "data_prep.onet",
            "data_prep.onet_names",
            "data_prep.onet_release",
            "data_prep.onet_config",
            "data_prep.onet_courses",
            "data_prep.onet_skills",
            "data_prep.onet_import",
            "data_prep.esco",
            "data_prep.mobility",
            "data_prep.mobility_survey",
            "data_prep.mobility_features",
            "data_prep.mobility_model",
            "data_prep.tagging",
            "data_prep.tagging_config",
            "data_prep.tagging_text",
            "data_prep.tagging_neighbours",
            "data_prep.tagging_match",
            "data_prep.tagging_eval",
            "data_prep.tagging_review",
            "data_prep.clustering",
            "data_prep.clustering_methods",
            "data_prep.clustering_report",
            "data_prep.clustering_use",
            "data_prep.synthesis",
            "data_prep.synthesis_config",
            "data_prep.synthesis_numeric",
            "data_prep.synthesis_tables",
            "data_prep.synthesis_steps",
            "data_prep.synthesis_record",
            "data_prep.synthesis_rows",
            "data_prep.synthesis_oracle",
            "data_prep.build",
            "data_prep.build_config",
            "data_prep.build_stats",
            "careerpath.splits",
            "careerpath.feedback",
            "careerpath.feedback_hub",
        ),
    ),
    (
        "model",
        "the network, its priors and scoring, the model folder and its Hub copy",
        (
            "careerpath.bundle",
            "careerpath.modeling",
            "careerpath.modeling_heads",
            "careerpath.modeling_tiny",
            "careerpath.generation",
            "careerpath.scoring",
            "careerpath.scoring_lean",
            "careerpath.scoring_tokens",
            "careerpath.timeline",
            "careerpath.prior_base",
            "careerpath.prior_latent",
            "careerpath.prior",
            "careerpath.job_prior",
            "careerpath.job_prior_scales",
            "careerpath.reranker",
            "careerpath.modelcard",
            "careerpath.hub",
        ),
    ),
    (
        "training",
        "fine-tuning, feedback as training signal",
        (
            "careerpath.training",
            "careerpath.training_data",
            "careerpath.training_loop",
            "careerpath.training_priors",
            "careerpath.feedback_train",
        ),
    ),
    (
        "serving",
        "the recommender and what it composes",
        (
            "careerpath.planner",
            "careerpath.planner_bound",
            "careerpath.planner_guided",
            "careerpath.planner_milp",
            "careerpath.planner_state",
            "careerpath.recommend",
            "careerpath.recommend_types",
            "careerpath.recommend_pathway",
            "careerpath.render",
            "careerpath.conversation",
        ),
    ),
    (
        "eval",
        "baselines, the evaluation of the model and of the recommender, bias, plots",
        (
            "careerpath.baselines",
            "careerpath.baselines_models",
            "careerpath.baselines_gru",
            "careerpath.baselines_oracle",
            "careerpath.evaluation",
            "careerpath.evaluation_methods",
            "careerpath.evaluation_bias",
            "careerpath.evaluation_report",
            "careerpath.bias",
            "careerpath.plots",
            "careerpath.metric_modules.*",
        ),
    ),
    (
        "app",
        "the demo, commands, exports, publishing",
        (
            "careerpath.demo",
            "careerpath.demo_state",
            "careerpath.demo_render",
            "careerpath.demo_picture",
            "careerpath.demo_options",
            "careerpath.demo_feedback",
            "careerpath.demo_engine",
            "careerpath.demo_app",
            "careerpath.simulate",
            "careerpath.export",
            "careerpath.recbole_export",
            "careerpath.space_publish",
            "careerpath.quickstart",
            "careerpath.cli",
            "careerpath.cli_data",
            "careerpath.cli_recommend",
            "careerpath.__main__",
        ),
    ),
)


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file of every module in the project's packages."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def layer_of(module: str) -> int | None:
    for rank, (_, _, names) in enumerate(LAYERS):
        for name in names:
            if module == name or (name.endswith(".*") and module.startswith(name[:-1])):
                return rank
    return None


def imports_of(module: str, path: Path, known: set[str]) -> list[tuple[int, str]]:
    """``(line, project module)`` for every import in ``path``, inside functions too."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            # `from pkg import mod` imports the module; `from mod import name` the module it is in
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c`: the deepest known module
                target = target.rpartition(".")[0]
            if target:
                found.append((node.lineno, target))
    return found


def upward_imports(root: Path = ROOT) -> list[str]:
    modules = project_modules(root)
    bad = []
    for module, path in modules.items():
        mine = layer_of(module)
        for line, target in imports_of(module, path, set(modules)):
            theirs = layer_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                bad.append(
                    f"{path.relative_to(root)}:{line}: {module} ({LAYERS[mine][0]}) imports "
                    f"{target} ({LAYERS[theirs][0]})"
                )
    return bad


def test_every_module_has_a_layer():
    missing = [m for m in project_modules() if layer_of(m) is None]
    assert not missing, f"add these modules to LAYERS in tests/test_layers.py: {missing}"
    listed = [n for _, _, names in LAYERS for n in names if not n.endswith(".*")]
    assert len(listed) == len(set(listed)), "a module is listed in two layers"
    gone = sorted(set(listed) - set(project_modules()))
    assert not gone, f"LAYERS names modules that do not exist: {gone}"


def test_imports_only_point_down():
    bad = upward_imports()
    assert not bad, "imports pointing up a layer:\n" + "\n".join(bad)


def test_the_check_finds_an_upward_import_inside_a_function(tmp_path):
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "data_prep" / "catalog.py").write_text("import json\n")
    (tmp_path / "careerpath" / "recommend.py").write_text("from data_prep.catalog import x\n")
    (tmp_path / "careerpath" / "scoring.py").write_text(
        "from . import modeling\n\ndef f():\n    from careerpath.recommend import Recommender\n"
    )
    (tmp_path / "careerpath" / "modeling.py").write_text("def g():\n    import careerpath.recommend as r\n")
    bad = upward_imports(tmp_path)
    assert len(bad) == 2, bad
    assert bad[0].startswith(
        "careerpath/modeling.py:2: careerpath.modeling (model) imports careerpath.recommend"
    )
    assert bad[1].startswith(
        "careerpath/scoring.py:4: careerpath.scoring (model) imports careerpath.recommend"
    )


@pytest.mark.parametrize(
    "source, target",
    [
        ("from careerpath import metrics", "careerpath.metrics"),
        ("from careerpath.metrics import top_k", "careerpath.metrics"),
        ("import careerpath.metrics", "careerpath.metrics"),
        ("from . import metrics", "careerpath.metrics"),
        ("from .metrics import top_k", "careerpath.metrics"),
        (
            "from careerpath.metric_modules.careerpath_bleu import careerpath_bleu",
            "careerpath.metric_modules",
        ),
    ],
)
def test_import_forms_resolve_to_the_module(tmp_path, source, target):
    path = tmp_path / "m.py"
    path.write_text(source + "\n")
    known = {"careerpath", "careerpath.metrics", "careerpath.metric_modules"}
    assert imports_of("careerpath.scoring", path, known) == [(1, target)]


def test_docs_layout_table_matches_layers():
    """docs/testing.md's layer table lists the same layers, in order, with the same modules."""
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in section.splitlines() if r.startswith("| ") and not r.startswith("| layer")]
    table = []
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        table.append((cells[0], sorted(re.findall(r"`([\w.*]+)`", cells[2]))))
    want = [(name, sorted(m for m in names if m not in PACKAGES)) for name, _, names in LAYERS]
    assert table == want
