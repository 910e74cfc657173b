"""The one CLI (docs/cli.md): --version, help on every flag, one error convention, --json, -v/-q, overrides."""

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from careerpath.app import cli, cli_data
from careerpath.core.cli_common import HelpFormatter

ROOT = Path(__file__).resolve().parent.parent

# canonical spellings of the tiny model the shared fixture trains (tests/conftest.py)
TINY = ["--model.d-model", "32", "--model.num-layers", "1", "--model.num-heads", "2", "--model.d-ff", "64"]
TINY += ["--model.vocab-size", "600", "--train.batch-size", "16", "--data.max-eval-examples", "4"]
TINY += ["--generation.max-new-tokens", "24", "--train.num-threads", "1", "--train.epochs", "1"]
TINY += ["--train.max-steps", "2", "--train.log-every", "100"]


@pytest.fixture(autouse=True)
def restore_logging():
    """cli.main sets up logging for the process; put it back so later tests see what they expect."""
    from careerpath.core import cli_common

    names = ["", *cli_common.OWN_LOGGERS]
    levels = {n: logging.getLogger(n).level for n in names}
    handlers = list(logging.getLogger().handlers)
    yield
    for n, level in levels.items():
        logging.getLogger(n).setLevel(level)
    for h in logging.getLogger().handlers:
        if h not in handlers:
            logging.getLogger().removeHandler(h)
    cli_common._handler, cli_common._progress = None, True


def run(argv, capsys):
    """``careerpath ARGV`` in this process: (exit code, stdout, stderr)."""
    try:
        code = cli.main(list(argv))
    except SystemExit as e:  # argparse: --help, --version, usage errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    from importlib.metadata import version

    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"careerpath {version('careerpath')}"


def test_top_level_help_is_for_users_and_groups_every_command_by_stage(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    assert "personalised learning and career pathway" in out and "careerpath quickstart" in out
    assert "commands, by stage:" in out and "Exit codes" in out
    staged = [name for _, names in cli.STAGES for name in names]
    assert sorted(staged) == sorted(cli.commands()), "every command in exactly one stage"
    assert len(staged) == len(set(staged))
    for title, names in cli.STAGES:
        assert title in out
        for name in names:
            assert re.search(rf"^    {re.escape(name)}\s+\S", out, re.M), name


def test_every_flag_has_help_a_dashed_spelling_and_shows_its_default():
    parsers = cli.command_parsers()
    assert {"train", "evaluate", "feedback stats", "data tag", "data apply-tags", "baselines train"} <= set(
        parsers
    )
    bad = []
    for name, parser in parsers.items():
        assert parser.formatter_class is HelpFormatter, f"{name}: defaults not shown"
        text = parser.format_help()
        for action in parser._actions:
            if not action.option_strings or isinstance(action, argparse_help_types()):
                continue
            flag = max(action.option_strings, key=len)
            if not action.help or action.help == "==SUPPRESS==":
                bad.append(f"{name} {flag}: no help")
            if any("_" in o for o in action.option_strings):
                bad.append(f"{name} {flag}: underscore spelling")
            unset = action.default is None or action.default is False  # 0 and 0.0 are shown
            shown = not unset and "default" not in (action.help or "")
            if shown and f"(default: {action.default})" not in " ".join(text.split()):
                bad.append(f"{name} {flag}: default {action.default!r} not shown")
    assert not bad, "\n".join(bad)


def argparse_help_types():
    import argparse

    return (argparse._HelpAction, cli._Version)


def test_train_help_lists_every_config_field_with_dashes(capsys):
    from careerpath.core.config import field_index

    code, out, _ = run(["train", "--help"], capsys)
    assert code == 0 and out.startswith("usage: careerpath train")
    for key in field_index():
        assert "--" + key.replace("_", "-") in out, key
    assert "--train.max_steps" not in out


# one row per command: argv naming a path that does not exist (M, M2) and outputs under out/
M, M2 = "missing/a/thing", "missing/b/other"
MISSING_INPUT = {
    "data build": ["data", "build", "--catalog", M, "--out", "out/d"],
    "data validate": ["data", "validate", "--catalog", M],
    "data export": ["data", "export", "--data", M, "--out", "out/x"],
    "data merge": ["data", "merge", M, M2, "--out", "out/d"],
    "data tag": ["data", "tag", "--catalog", M, "--out", "out/review.csv"],
    "data apply-tags": ["data", "apply-tags", M + ".csv", "--out", "out/cat"],
    "data cluster": ["data", "cluster", "--catalog", M, "--out", "out/c"],
    "data import-onet": ["data", "import-onet", M, "--out", "out/cat"],
    "data import-esco": ["data", "import-esco", M, M2, "--out", "out/cat"],
    "train": ["train", "--data.data-dir", M, "--train.output-dir", "out/model"],
    "evaluate": ["evaluate", "--model", M, "--data", M2, "--out", "out/report"],
    "baselines train": ["baselines", "train", "--data", M, "--out", "out/b"],
    "export": ["export", "--model", M, "--out", "out/e"],
    "serve": ["serve", "--model", M, "--db", "out/fb.sqlite", "--no-embeddings"],
    "feedback stats": ["feedback", "stats", "--db", M],
    "feedback export": ["feedback", "export", "--db", M, "--out", "out/fb.jsonl"],
    "feedback delete": ["feedback", "delete", "--db", M, "--session", "abc"],
    "feedback purge": ["feedback", "purge", "--db", M, "--older-than", "1"],
    "simulate-feedback": ["simulate-feedback", "--model", M, "--out", "out/sim"],
    "recommend": ["recommend", "--model", M, "--no-embeddings"],
    "push": ["push", "--model", M, "--repo-id", "user/model", "--data", M2, "--dataset-id", "user/data"],
    "feedback pull": ["feedback", "pull", "--repo", M, "--db", "out/fb.sqlite"],
}
# commands that read no path a user gives (quickstart builds everything; publish-space uploads space/)
NO_INPUT_PATH = {"quickstart", "publish-space"}


def test_missing_input_table_covers_every_command():
    assert set(MISSING_INPUT) | NO_INPUT_PATH == set(cli.command_parsers())


@pytest.mark.parametrize("command", sorted(MISSING_INPUT))
def test_missing_input_is_one_line_exit_2_and_writes_nothing(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("CAREERPATH_MODEL", raising=False)
    code, out, err = run(MISSING_INPUT[command], capsys)
    assert code == 2, (command, out, err)
    assert "Traceback" not in err + out
    lines = [ln for ln in err.splitlines() if ln.strip() and "deprecated" not in ln]
    assert 1 <= len(lines) <= 2, err
    assert lines[-1].startswith("error: ") and "missing/" in lines[-1], err
    assert list(tmp_path.iterdir()) == [], f"{command} wrote {list(tmp_path.rglob('*'))}"


def test_unexpected_failure_is_one_line_exit_1_and_v_shows_the_traceback(monkeypatch, capsys):
    def boom(args):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli_data, "_data_validate", boom)
    code, _, err = run(["data", "validate"], capsys)
    assert code == 1 and err.strip() == (
        "error: unexpected RuntimeError: boom second line (run again with -v for the traceback)"
    )
    code, _, err = run(["data", "validate", "-v"], capsys)
    assert code == 1 and "Traceback" in err and "RuntimeError: boom" in err


def test_verbosity_flags_anywhere_set_the_one_logging_setup(capsys):
    from careerpath.core import cli_common

    own, root = logging.getLogger("careerpath"), logging.getLogger()
    for argv, level, libs in (
        (["data", "validate"], logging.INFO, logging.WARNING),
        (["-q", "data", "validate"], logging.WARNING, logging.WARNING),
        (["data", "validate", "-qq"], logging.ERROR, logging.ERROR),
        (["data", "validate", "-v"], logging.DEBUG, logging.INFO),
        (["--verbose", "data", "validate", "-v"], logging.DEBUG, logging.DEBUG),
    ):
        code, out, _ = run(argv, capsys)
        assert code == 0 and "catalog OK" in out
        assert (own.level, logging.getLogger("data_prep").level, root.level) == (level, level, libs), argv
        assert cli_common.show_progress() is (level <= logging.INFO), argv  # -q: no progress bars
    handlers = [h for h in root.handlers if type(h).__name__ == "_StderrHandler"]
    assert len(handlers) == 1, "each run replaces the handler instead of adding one"


def test_no_module_configures_logging_itself():
    offenders = [
        str(p.relative_to(ROOT))
        for p in [*ROOT.glob("careerpath/**/*.py"), *ROOT.glob("data_prep/**/*.py"), ROOT / "train.py"]
        if "basicConfig(" in p.read_text() and p.name != "cli_common.py"
    ]
    assert offenders == []


def test_config_overrides_dashed_and_deprecated_spellings(capsys):
    from careerpath.core.config import ConfigError, load_config

    cfg = load_config(["--train.max-steps", "5", "--lora.target-modules", "q,k", "--train.lr=0.5"])
    assert (cfg.train.max_steps, cfg.lora.target_modules, cfg.train.lr) == (5, ["q", "k"], 0.5)
    assert capsys.readouterr().err == ""  # the canonical spelling is silent
    cfg = load_config(["--train.max_steps", "6", "--init_from", "x", "--set", "lr=0.25", "--epochs", "4"])
    assert (cfg.train.max_steps, cfg.train.init_from, cfg.train.lr, cfg.train.epochs) == (6, "x", 0.25, 4)
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "careerpath: warning: --train.max_steps is deprecated; use --train.max-steps",
        "careerpath: warning: --init_from is deprecated; use --train.init-from",
        "careerpath: warning: --set lr=0.25 is deprecated; use --train.lr 0.25",
        "careerpath: warning: --epochs is deprecated; use --train.epochs",
    ]
    with pytest.raises(ConfigError, match="--set 'lr': expected KEY=VALUE"):
        load_config(["--set", "lr"])


def test_import_config_flags_and_deprecated_set(capsys):
    import argparse

    from careerpath.core.cli_common import take_overrides, yaml_sets
    from careerpath.importers.onet import OnetImportConfig, load_import_config

    p = argparse.ArgumentParser()
    p.add_argument("path")
    p.add_argument("--out")
    rest, over = take_overrides(
        p,
        [
            "rel",
            "--out",
            "o",
            "--min-importance",
            "3.5",
            "--courses.generate",
            "false",
            "--max_related_per_job=4",
        ],
    )
    assert rest == ["rel", "--out", "o"]
    assert over == {"min_importance": 3.5, "courses.generate": False, "max_related_per_job": 4}
    assert "--max_related_per_job is deprecated; use --max-related-per-job" in capsys.readouterr().err
    assert yaml_sets(["courses.generate=false", "tech=all"]) == {"courses.generate": False, "tech": "all"}
    assert capsys.readouterr().err.splitlines() == [
        "careerpath: warning: --set courses.generate=false is deprecated; use --courses.generate false",
        "careerpath: warning: --set tech=all is deprecated; use --tech all",
    ]
    cfg = load_import_config(OnetImportConfig, None, overrides=over)
    assert cfg.min_importance == 3.5 and cfg.courses.generate is False and cfg.max_related_per_job == 4


def test_data_build_json_and_section_overrides(tmp_path, tiny_catalog_dir, capsys):
    argv = [
        "data",
        "build",
        "--config",
        str(ROOT / "configs/data/tiny.yaml"),
        "--catalog",
        str(tiny_catalog_dir),
    ]
    code, out, err = run([*argv, "--out", str(tmp_path / "d"), "--synthesis.users", "12", "--json"], capsys)
    assert code == 0, err
    stats = json.loads(out)
    assert stats["users"] == 12 and stats["out"] == str(tmp_path / "d")
    assert sum(stats["examples"].values()) == sum(
        1 for s in ("train", "validation", "test") for _ in open(tmp_path / "d" / f"{s}.jsonl")
    )
    code, _, err = run([*argv, "--out", str(tmp_path / "e"), "--synthesis.userz", "3"], capsys)
    assert code == 2 and "userz" in err and not (tmp_path / "e").exists()


def test_train_command_matches_train_py_and_reports_json(tmp_path, tiny_dataset, capsys):
    out = tmp_path / "m"
    argv = ["train", "--config", str(ROOT / "configs/tiny_t5.yaml"), "--data.data-dir", str(tiny_dataset)]
    code, stdout, err = run([*argv, "--train.output-dir", str(out), *TINY, "--json", "-q"], capsys)
    assert code == 0, err
    report = json.loads(stdout)
    assert report["model_dir"] == str(out) and (out / "model.safetensors").is_file()
    assert report["metrics"] == json.loads((out / "metrics.json").read_text())
    # python train.py: the same command (its --help is the same parser)
    proc = subprocess.run(
        [sys.executable, "train.py", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0 and "--train.max-steps" in proc.stdout


def test_json_outputs(tmp_path, tiny_dataset, tiny_model, capsys):
    code, out, err = run(
        [
            "baselines",
            "train",
            "--data",
            str(tiny_dataset),
            "--out",
            str(tmp_path / "b"),
            "--only",
            "popularity,markov",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    res = json.loads(out)
    assert set(res["validation"]) >= {"popularity", "markov"} and res["validation_rows"] > 0
    assert (tmp_path / "b" / "markov" / "baseline.json").is_file()

    code, out, err = run(
        ["data", "export", "--data", str(tiny_dataset), "--out", str(tmp_path / "rb"), "--json"], capsys
    )
    assert code == 0, err
    res = json.loads(out)
    assert all((tmp_path / "rb" / f).is_file() for f in res["files"]) and res["interactions"]

    code, out, err = run(
        ["export", "--model", str(tiny_model), "--out", str(tmp_path / "e"), "--json"], capsys
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["model_type"] == "t5" and "model.safetensors" in res["files"] and not res["merged"]

    code, out, err = run(
        [
            "evaluate",
            "--model",
            str(tiny_model),
            "--data",
            str(tiny_dataset),
            "--out",
            str(tmp_path / "r"),
            "--max-examples",
            "12",
            "--generation-examples",
            "0",
            "--no-bias",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    res = json.loads(out)
    assert res == json.loads((tmp_path / "r" / "metrics.json").read_text())


def test_feedback_json(tmp_path, capsys):
    from careerpath.data.feedback import FeedbackEvent, FeedbackStore

    db = tmp_path / "fb.sqlite"
    store = FeedbackStore(db)
    store.add(FeedbackEvent(session_id="s1", item_kind="course", item_id="c1", rating=1, model_version="v"))
    del store
    code, out, _ = run(["feedback", "stats", "--db", str(db), "--json"], capsys)
    assert code == 0 and json.loads(out)["events"] == 1
    code, out, _ = run(
        ["feedback", "export", "--db", str(db), "--out", str(tmp_path / "x.jsonl"), "--json"], capsys
    )
    assert code == 0 and json.loads(out)["events"] == 1
    code, out, _ = run(["feedback", "purge", "--db", str(db), "--older-than", "1", "--json"], capsys)
    assert code == 0 and json.loads(out)["purged"] == 0
    code, out, _ = run(["feedback", "delete", "--db", str(db), "--session", "s1", "--json"], capsys)
    assert code == 0 and json.loads(out)["deleted"] == 1


# ---------------------------------------------------------------- the README's command table

README_ROW = re.compile(r"^\|\s*(`careerpath .*?`.*?)\|")


def readme_commands(text: str, parser_commands: set[str]) -> set[str]:
    """Commands named in the README's table rows ``| `careerpath <command> ...` | ... |``.

    A row may hold several code spans (``a` / `b``) and alternatives (``feedback stats\\|export``);
    a group word (``data``, ``feedback``) takes the next word as its sub-command.
    """
    groups = {c.split()[0] for c in parser_commands if " " in c}
    found = set()
    for line in text.splitlines():
        m = README_ROW.match(line.replace("\\|", "\x00"))
        if not m:
            continue
        for span in re.findall(r"`careerpath ([^`]*)`", m.group(1)):
            words = span.replace("\x00", "|").split()
            if not words:
                continue
            if words[0] in groups and len(words) > 1:
                found |= {f"{words[0]} {alt}" for alt in words[1].split("|") if alt}
            else:
                found |= {alt for alt in words[0].split("|") if alt}
    return found


def test_readme_parser_handles_the_table_format():
    parser_commands = {"data build", "data tag", "feedback stats", "feedback purge", "serve", "train"}
    text = (
        "| command | what |\n|---|---|\n"
        "| `careerpath data build [--config X]` | builds |\n"
        "| `careerpath data tag --out r.csv` / `careerpath serve [--model DIR\\|HUB_ID]` | two |\n"
        "|`careerpath feedback stats\\|purge --db PATH`|store|\n"
        "Prose mentioning `careerpath train` is not a table row.\n"
    )
    assert readme_commands(text, parser_commands) == {
        "data build",
        "data tag",
        "serve",
        "feedback stats",
        "feedback purge",
    }


def test_readme_command_table_matches_the_parser():
    """Fails until the README's table lists `careerpath train` (the README is being rewritten)."""
    parser_commands = set(cli.command_parsers())
    listed = readme_commands((ROOT / "README.md").read_text(), parser_commands)
    assert listed, "no `| `careerpath ...` | ... |` rows in README.md"
    assert not parser_commands - listed, (
        f"commands missing from the README table: {sorted(parser_commands - listed)}"
    )
    rows = {c for c in listed if not c.startswith("-")}  # `careerpath --version` is an option row
    assert not rows - parser_commands, (
        f"README table rows naming no command: {sorted(rows - parser_commands)}"
    )


def test_simulate_feedback_json_is_the_result_alone(tmp_path, monkeypatch, capsys):
    """The loop itself is tested in test_feedback_train.py; here: --json prints its result and nothing else."""
    from careerpath.app import simulate

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.yaml").write_text("{}\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text("")
    seen = {}

    def fake_run(*args, data=None):
        seen["args"], seen["data"] = args, data
        return {"rounds": args[2], "history": [{"round": 0, "acceptance": 0.5}]}

    monkeypatch.setattr(simulate, "run", fake_run)
    argv = ["simulate-feedback", "--model", str(model), "--rounds", "2", "--out", str(tmp_path / "s")]
    code, out, _ = run([*argv, "--data", str(data), "--json"], capsys)
    assert code == 0
    assert json.loads(out) == {
        "out": str(tmp_path / "s"),
        "rounds": 2,
        "history": [{"round": 0, "acceptance": 0.5}],
    }
    assert seen["args"][0] == str(model) and seen["args"][3] == str(tmp_path / "s")
    assert Path(seen["data"]) == data


def test_data_json_outputs(tmp_path, tiny_catalog_dir, capsys):
    import csv

    cat = str(tiny_catalog_dir)
    review = tmp_path / "review.csv"
    code, out, err = run(
        ["data", "tag", "--catalog", cat, "--out", str(review), "--no-embeddings", "--json"], capsys
    )
    assert code == 0, err
    res = json.loads(out)
    with open(review, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert res["proposals"] == len(rows) > 0 and res["pre_accepted"] == sum(
        r["accept"] == "yes" for r in rows
    )

    argv = ["data", "apply-tags", str(review), "--catalog", cat, "--out", str(tmp_path / "tagged"), "--json"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    res = json.loads(out)
    assert res["out"] == str(tmp_path / "tagged")
    assert res["accepted_rows"] >= res["added"] >= 0 and (tmp_path / "tagged" / "courses.csv").is_file()

    argv = ["data", "cluster", "--catalog", cat, "--out", str(tmp_path / "cl"), "--encoder", "none"]
    code, out, err = run([*argv, "--method", "kmeans", "--k-max", "4", "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert res["chosen"] == "kmeans" and [r["method"] for r in res["rows"]] == ["kmeans"]
    assert (tmp_path / "cl" / "clusters.json").is_file()
