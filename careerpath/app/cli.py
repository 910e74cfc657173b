"""The ``careerpath`` command: the parser, dispatch, ``train``/``quickstart`` and the command listing.
Sub-commands import their module lazily so ``--help`` stays fast; ``data build|merge|validate`` live in
careerpath/app/cli_data.py and ``recommend`` in careerpath/app/cli_recommend.py.

Conventions (docs/cli.md): dashed flags; ``--section.key value`` overrides a YAML config; ``--json`` prints
one JSON document; ``-v``/``-q`` set the logging; a bad input is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from careerpath.app.cli_data import add_data_commands
from careerpath.app.cli_recommend import add_recommend_command
from careerpath.core.cli_common import (
    ArgumentParser,
    HelpFormatter,
    add_command,
    deprecated,
    print_json,
    require_path,
    setup_logging,
    show_progress,
)

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
log = logging.getLogger(__name__)

DESCRIPTION = """\
careerpath gives a person a personalised learning and career pathway: the next course to take, the
skills it adds, when a job move becomes realistic and the whole sequence of steps to a target job.
It builds career-trajectory datasets from a skills/courses/jobs catalog (bundled, your own CSV/JSON,
O*NET or ESCO), fine-tunes a small T5 or GPT on them, evaluates the model against baselines and the
best accuracy the data allows, and serves a chat demo whose ratings feed back into training.

Start with `careerpath quickstart` (data, model, report and an example pathway in a few minutes)."""

# (title, commands) in the order a project uses them; every command is in exactly one stage
STAGES: list[tuple[str, list[str]]] = [
    ("start here", ["quickstart"]),
    (
        "1. data: catalogs and datasets",
        [
            "data import-onet",
            "data import-esco",
            "data validate",
            "data tag",
            "data apply-tags",
            "data cluster",
            "data build",
            "data merge",
            "data export",
        ],
    ),
    ("2. train", ["train"]),
    ("3. evaluate", ["baselines", "evaluate"]),
    ("4. use and share", ["recommend", "serve", "export", "push", "publish-space"]),
    ("5. feedback loop", ["feedback", "simulate-feedback"]),
]

EPILOG_TAIL = """\
Global options go anywhere: -v/-vv more logging (-v also shows tracebacks), -q/-qq less (-q also
hides progress bars). `careerpath COMMAND --help` lists a command's flags with their defaults.
Exit codes: 0 success, 2 bad input or usage (one line on stderr), 1 unexpected failure, 130 interrupted.
Docs: docs/cli.md."""


def _quickstart(args: argparse.Namespace) -> int:
    from careerpath.app.quickstart import run_quickstart

    return run_quickstart(out=args.out, users=args.users, epochs=args.epochs, fast=args.fast)


def train_main(argv: list[str]) -> int:
    """``careerpath train`` (and ``python train.py``): config -> model -> fit -> evaluate -> save."""
    from careerpath.core.config import load_config

    as_json = "--json" in argv
    cfg = load_config(argv)
    # every input the run reads is checked before the output folder is made
    require_path(
        cfg.data.data_dir, "--data.data-dir", "dir", hint="build a dataset with `careerpath data build`"
    )
    if cfg.train.init_from:
        require_path(cfg.train.init_from, "--train.init-from", "dir", hint="give a trained output folder")
    if cfg.train.resume_from_checkpoint not in ("", "latest"):
        require_path(cfg.train.resume_from_checkpoint, "--train.resume-from-checkpoint", "dir")
    if cfg.feedback.feedback_db:
        require_path(cfg.feedback.feedback_db, "--feedback.feedback-db", "file", hint="the demo creates it")
    from careerpath.training.training import run_training

    if not show_progress():  # -q: no progress bars (transformers' "Writing model shards" either)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    out_dir = run_training(cfg)
    if as_json:
        metrics = Path(out_dir) / "metrics.json"
        print_json(
            {
                "model_dir": str(out_dir),
                "metrics": json.loads(metrics.read_text()) if metrics.is_file() else None,
            }
        )
    else:
        print(f"model written to {out_dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="careerpath",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
        usage="careerpath [-h] [--version] [-v | -q] <command> [<args>]",
    )
    parser.add_argument("--version", action=_Version, help="print the installed version and exit")
    _add_verbosity(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>", help=argparse.SUPPRESS)

    data = add_data_commands(sub)

    quick = add_command(
        sub, "quickstart", "build the default dataset, train the tiny model, evaluate, show a pathway"
    )
    quick.add_argument("--out", default="outputs", help="folder for data, model and report")
    quick.add_argument("--users", type=int, default=None, help="override the number of synthetic users")
    quick.add_argument("--epochs", type=int, default=None, help="override training epochs")
    quick.add_argument("--fast", action="store_true", help="a one-minute smoke run (tiny data, one epoch)")
    quick.set_defaults(func=_quickstart)

    for prefix, (module, extra, helptext) in PASSTHROUGH.items():  # listed in --help; run by main()
        p = (data if prefix[0] == "data" else sub).add_parser(prefix[-1], help=helptext, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER, help="the command's own flags (see its --help)")
        p.set_defaults(func=_passthrough(module, extra))

    add_recommend_command(sub)
    parser.epilog = _stages_text(parser) + "\n\n" + EPILOG_TAIL
    return parser


def _add_verbosity(parser: argparse.ArgumentParser) -> None:
    # shown in --help; main() takes them out of argv first, so they work after the command name too
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more logging; -v also shows tracebacks, -vv libraries' logs",
    )
    parser.add_argument(
        "-q", "--quiet", action="count", default=0, help="less logging and no progress bars; -qq: errors only"
    )


def _passthrough(module: str, prefix: list[str] | None = None):
    """Sub-commands whose module owns its own argparse (``main(argv) -> int``)."""

    def run(args: argparse.Namespace) -> int:
        return _run_module(module, (prefix or []) + args.rest)

    return run


def _run_module(module: str, argv: list[str]) -> int:
    import importlib

    if module == "careerpath.app.cli":  # `careerpath train` lives here, beside `python train.py`'s entry
        return train_main(argv)
    return importlib.import_module(module).main(argv)


# Sub-commands whose module owns its own argparse: ``module.main(extra + argv_rest) -> int``; each module
# also has ``build_parser()`` (tests walk it). Dispatched before argparse so their options pass untouched.
PASSTHROUGH: dict[tuple[str, ...], tuple[str, list[str], str]] = {
    ("train",): (
        "careerpath.app.cli",
        [],
        "fine-tune a model from a YAML config (same as `python train.py`)",
    ),
    ("evaluate",): (
        "careerpath.eval.evaluation",
        [],
        "full-catalog metrics, baselines, ceiling and bias report",
    ),
    ("baselines",): (
        "careerpath.eval.baselines",
        [],
        "train the popularity, stay-rule, Markov and GRU baselines",
    ),
    ("export",): (
        "careerpath.app.export",
        [],
        "save a standalone model (merge a LoRA adapter into its base)",
    ),
    ("serve",): ("careerpath.app.demo", [], "open the chat demo (Gradio) on a trained model"),
    ("push",): (
        "careerpath.model.hub",
        [],
        "upload a model (card with test figures, its base) and its dataset to the Hub",
    ),
    ("publish-space",): ("careerpath.app.space_publish", [], "upload space/ as a Hugging Face Space"),
    ("feedback",): ("careerpath.data.feedback", [], "feedback store: stats, export, delete, purge"),
    ("simulate-feedback",): (
        "careerpath.app.simulate",
        [],
        "simulated users like/dislike, the model retrains; acceptance per round",
    ),
    ("data", "export"): (
        "careerpath.app.recbole_export",
        [],
        "export splits for other tools (--format recbole)",
    ),
    ("data", "tag"): (
        "careerpath.curation.tagging",
        ["tag"],
        "propose skill tags for courses and jobs (review CSV)",
    ),
    ("data", "apply-tags"): (
        "careerpath.curation.tagging",
        ["apply"],
        "merge accepted tags from a review CSV",
    ),
    ("data", "cluster"): (
        "careerpath.curation.clustering",
        [],
        "cluster courses (kmeans, hierarchical, dbscan)",
    ),
    ("data", "import-onet"): ("careerpath.importers.onet", [], "build a catalog from an O*NET release"),
    ("data", "import-esco"): ("careerpath.importers.esco", [], "build a catalog from an ESCO release"),
}


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (0 ok, 2 bad input, 1 unexpected failure, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbosity, argv = _pop_verbosity(argv)
    setup_logging(verbosity)
    try:
        for prefix, (module, extra, _) in PASSTHROUGH.items():
            if tuple(argv[: len(prefix)]) == prefix:  # these modules own their argparse
                return _run_module(module, extra + argv[len(prefix) :])
        parser = build_parser()
        args, unknown = parser.parse_known_args(argv)
        args.verbosity = verbosity
        args.overrides = {}
        if unknown and getattr(args, "overrides_allowed", False):
            args.overrides = _yaml_overrides(unknown)
        elif unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `careerpath ... | head`: the reader left; nothing to report
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the interpreter's final flush stays quiet
        return 0
    # bad input: CatalogError, ConfigError, FeedbackError, SourceError... are ValueErrors
    except (ValueError, OSError) as e:
        log.debug("traceback", exc_info=True)
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug: still one line, the traceback with -v
        log.debug("traceback", exc_info=True)
        print(
            f"error: unexpected {type(e).__name__}: {_one_line(e)} (run again with -v for the traceback)",
            file=sys.stderr,
        )
        return 1


def _one_line(e: BaseException) -> str:
    if len(getattr(e, "problems", ())) > 1:  # an invalid catalog: one problem per line after the first
        return str(e)
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        return f"{e.filename}: {e.strerror.lower()}"
    return " ".join(str(e).split()) or type(e).__name__


def _pop_verbosity(argv: list[str]) -> tuple[int, list[str]]:
    """``-v``/``-vv``/``--verbose``/``-q``/``-qq`` anywhere before ``--`` (``--quiet`` only before the command,
    since ``data build --quiet`` and ``evaluate --quiet`` mean "no progress bar")."""
    level, out, command_seen = 0, [], False
    for i, a in enumerate(argv):
        if a == "--":
            out += argv[i:]
            break
        if a in ("--verbose",) or (len(a) > 1 and a[0] == "-" and set(a[1:]) == {"v"}):
            level += 1 if a == "--verbose" else len(a) - 1
        elif (a == "--quiet" and not command_seen) or (len(a) > 1 and a[0] == "-" and set(a[1:]) == {"q"}):
            level -= 1 if a == "--quiet" else len(a) - 1
        else:
            command_seen = command_seen or not a.startswith("-")
            out.append(a)
    return level, out


def _yaml_overrides(rest: list[str]) -> dict:
    """``--section.key value`` flags for a data config (``--set KEY=VALUE`` still works, with a warning)."""
    import yaml

    from careerpath.core.cli_common import set_overrides, split_overrides

    out = {}
    for name, value in split_overrides(rest):
        if name == "set":
            pairs = set_overrides([value or ""])
        else:
            if "_" in name:
                deprecated(f"--{name}", f"--{name.replace('_', '-')}")
            pairs = [(name.replace("-", "_"), value)]
        for key, raw in pairs:
            out[key] = True if raw is None else yaml.safe_load(raw)
    return out


class _Version(argparse.Action):
    """``--version``, looked up only when asked for (importlib.metadata costs ~50 ms of every --help)."""

    def __init__(self, option_strings, dest, help=None):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"careerpath {version()}")
        parser.exit()


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    try:
        return _version("careerpath")
    except PackageNotFoundError:
        return "0+unknown (not installed; pip install -e .)"


def command_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every command down to the leaves (``feedback stats``, ``baselines train``) and the parser that reads
    its flags; imports every command's module (tests and docs use it, ``--help`` does not)."""
    import importlib

    out = {}
    for name, sub, _ in _walk(build_parser()):
        prefix = tuple(name.split())
        if prefix not in PASSTHROUGH:
            out[name] = sub
            continue
        module, extra, _ = PASSTHROUGH[prefix]
        if module == "careerpath.app.cli":
            from careerpath.core.config import build_parser as train_parser

            out[name] = train_parser()
            continue
        own = importlib.import_module(module).build_parser()
        nested = {n: p for n, p, _ in _walk(own)}
        if extra:  # e.g. data tag -> tagging's "tag" sub-parser
            out[name] = nested[" ".join(extra)]
        elif nested:
            out.update({f"{name} {n}": p for n, p in nested.items()})
        else:
            out[name] = own
    return out


def commands(parser: argparse.ArgumentParser | None = None) -> dict[str, str]:
    """``{"data build": help, "train": help, ...}``: every command of ``careerpath``, in parser order."""
    return {name: helptext for name, _, helptext in _walk(parser or build_parser())}


def _walk(parser: argparse.ArgumentParser, prefix: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                full = f"{prefix}{name}"
                nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
                if nested:
                    yield from _walk(sub, full + " ")
                else:
                    yield full, sub, helps.get(name, "")


def _stages_text(parser: argparse.ArgumentParser) -> str:
    helps = commands(parser)
    lines = ["commands, by stage:"]
    for title, names in STAGES:
        lines.append(f"  {title}")
        lines += [f"    {name:<19} {helps[name]}" for name in names]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
