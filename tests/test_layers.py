"""Imports only point down: every module of ``careerpath`` and ``data_prep`` sits in one layer of
``LAYERS`` (bottom first) and imports only from its own layer or below, at module level or inside a
function alike. This table is the one place the layers are written; docs/testing.md ("Layout")
shows it and a test below keeps the two in step.

Each layer is a stage folder of ``careerpath`` (``data_prep`` holds thin entry points). A new module
goes into the lowest stage its imports allow; an import that would point up means the
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
        "the catalog and its text format, cleaning, the progression graph and the one gap rule, profiles, "
        "configs, metrics, shared helpers",
        ("careerpath", "data_prep", "careerpath.core", "careerpath.core.*"),
    ),
    ("curation", "skill tagging and clustering", ("careerpath.curation", "careerpath.curation.*")),
    ("importers", "O*NET, ESCO and observed mobility", ("careerpath.importers", "careerpath.importers.*")),
    (
        "data",
        "synthetic careers, the dataset build, the split reader, the feedback store",
        ("careerpath.data", "careerpath.data.*"),
    ),
    (
        "model",
        "the network, its priors and scoring, the model folder, its card and Hub copy",
        ("careerpath.model", "careerpath.model.*"),
    ),
    (
        "training",
        "fine-tuning, and feedback as a training signal",
        ("careerpath.training", "careerpath.training.*"),
    ),
    (
        "serving",
        "the recommender: catalog scoring into courses, jobs, pathways and explanations",
        ("careerpath.serving", "careerpath.serving.*"),
    ),
    (
        "eval",
        "baselines, evaluation against priors and the oracle ceiling, bias, plots",
        ("careerpath.eval", "careerpath.eval.*"),
    ),
    (
        "app",
        "the command line, the chat demo, exports, publishing, the quickstart; entry points",
        ("careerpath.app", "careerpath.app.*", "careerpath.__main__", "data_prep.*"),
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
    for pkg in (*PACKAGES, "careerpath/core", "careerpath/model", "careerpath/serving"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "careerpath" / "core" / "catalog.py").write_text("import json\n")
    (tmp_path / "careerpath" / "serving" / "recommend.py").write_text(
        "from careerpath.core.catalog import x\n"
    )
    (tmp_path / "careerpath" / "model" / "scoring.py").write_text(
        "from . import modeling\n\ndef f():\n    from careerpath.serving.recommend import Recommender\n"
    )
    (tmp_path / "careerpath" / "model" / "modeling.py").write_text(
        "def g():\n    import careerpath.serving.recommend as r\n"
    )
    bad = upward_imports(tmp_path)
    assert len(bad) == 2, bad
    assert bad[0].startswith(
        "careerpath/model/modeling.py:2: careerpath.model.modeling (model) imports careerpath.serving.recommend"
    )
    assert bad[1].startswith(
        "careerpath/model/scoring.py:4: careerpath.model.scoring (model) imports careerpath.serving.recommend"
    )


def test_each_stage_folder_is_one_layer():
    """The tree shows the flow: a module's layer is the stage folder it sits in."""
    names = [name for name, _, _ in LAYERS]
    for module in project_modules():
        parts = module.split(".")
        if parts[0] == "careerpath" and len(parts) > 1 and parts[1] in names:
            assert names[layer_of(module)] == parts[1], module


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
