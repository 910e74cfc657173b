"""What every ``careerpath`` sub-command shares: help layout, ``--json``, input checks, deprecations, logging.

Light on purpose (standard library only): the modules that own a sub-command's argparse import it, and
``careerpath --help`` must stay fast. The conventions themselves are written up in docs/cli.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

# loggers whose INFO lines a user sees by default; third-party libraries speak from WARNING up
OWN_LOGGERS = ("careerpath", "data_prep", "__main__", "train")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each flag's help; descriptions and epilogs keep their line breaks.

    A default is not repeated where the help already states it, nor shown when it is ``None`` or
    ``False`` (an unset option or an off switch), which would only add noise.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if "default" in text or unset or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the CLI's conventions: defaults in --help, a usage error is one line and exit 2."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see `{self.prog} --help`)\n")


def add_command(
    sub, name: str, helptext: str, group: str = "", epilog: str | None = None
) -> argparse.ArgumentParser:
    """A ``careerpath [GROUP] NAME`` sub-parser of ``sub`` with the CLI's help layout."""
    prog = " ".join(["careerpath", *([group] if group else []), name])
    return sub.add_parser(
        name, prog=prog, help=helptext, description=helptext, epilog=epilog, formatter_class=HelpFormatter
    )


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the result as one JSON document on stdout (no other output)",
    )


def print_json(obj) -> None:
    """The ``--json`` output: one JSON document on stdout; non-JSON values (paths) become strings."""
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def require_path(path: str | Path | None, flag: str, kind: str = "any", hint: str = "") -> Path:
    """Check an input path before anything is written; the error names the flag, the path and what to do.

    ``kind``: ``"file"``, ``"dir"`` or ``"any"``. Raises FileNotFoundError (exit 2 through the CLI).
    """
    p = Path(path) if path is not None else None
    ok = p is not None and (p.is_file() if kind == "file" else p.is_dir() if kind == "dir" else p.exists())
    if not ok:
        what = "not found"
        if p is not None and p.exists():
            what = "not a file" if kind == "file" else "not a folder"
        raise FileNotFoundError(f"{flag} {path}: {what}" + (f"; {hint}" if hint else ""))
    return p


# a Hugging Face Hub repo id (``user-or-org/name``); careerpath.model.hub resolves such ids to local folders
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


def is_hub_id(spec: str | Path) -> bool:
    """``user/name`` that is not a local path."""
    return bool(HUB_ID.match(str(spec))) and not Path(spec).exists()


def require_model(spec: str | Path | None, flag: str = "--model") -> None:
    """A model folder that exists, or a Hub id (``user/name``, not a local path: resolved and
    checked when it is downloaded). Raises FileNotFoundError (exit 2 through the CLI)."""
    if spec is not None and is_hub_id(spec):
        return
    require_path(
        spec,
        flag,
        "dir",
        hint="give a model folder or a Hub id (user/name); train one with `careerpath quickstart`",
    )


def deprecated(old: str, new: str) -> None:
    """One line on stderr: an old spelling still works but will not forever."""
    print(f"careerpath: warning: {old} is deprecated; use {new}", file=sys.stderr)


def split_overrides(rest: list[str], where: str = "command line") -> list[tuple[str, str | None]]:
    """``--section.key value`` / ``--key=value`` / bare ``--flag`` (true) pairs from leftover arguments.

    Names come back as written; a value that starts with ``-`` but is a number (``--lr -1``) is a value.
    """
    pairs, i = [], 0
    while i < len(rest):
        arg = rest[i]
        if not arg.startswith("--") or arg == "--":
            raise ValueError(f"{where}: expected --section.key value, got {arg!r}")
        name, eq, value = arg[2:].partition("=")
        if eq:
            pairs.append((name, value))
        elif i + 1 < len(rest) and not _is_flag(rest[i + 1]):
            pairs.append((name, rest[i + 1]))
            i += 1
        else:
            pairs.append((name, None))
        i += 1
    return pairs


def _is_flag(token: str) -> bool:
    if not token.startswith("--"):
        return False
    try:
        float(token)
    except ValueError:
        return True
    return False


def set_overrides(sets: list[str], resolve=lambda key: key) -> list[tuple[str, str]]:
    """The deprecated ``--set KEY=VALUE`` items as (key, value) pairs, with a deprecation line each.

    ``resolve`` turns a key as written into the full YAML key (and raises on an unknown one).
    """
    out = []
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE; better: --section.key VALUE")
        key = resolve(key.strip().replace("-", "_"))
        deprecated(f"--set {item}", f"--{key.replace('_', '-')} {value}")
        out.append((key, value))
    return out


def take_overrides(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[list[str], dict[str, object]]:
    """Split ``argv`` into what ``parser`` knows and ``--section.key value`` config overrides.

    Returns (argv for the parser, {"section.key": value read as YAML}). A flag the parser (or one of its
    sub-parsers) does not define is an override; an underscore spelling works, with a warning. The
    deprecated ``--set KEY=VALUE`` items go through :func:`yaml_sets`.
    """
    known = _option_strings(parser)
    kept, extra, i = [], [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            kept += argv[i:]
            break
        if a.startswith("--") and a.split("=", 1)[0] not in known:
            extra.append(a)
            if "=" not in a and i + 1 < len(argv) and not _is_flag(argv[i + 1]):
                extra.append(argv[i + 1])
                i += 1
        else:
            kept.append(a)
        i += 1
    pairs = []
    for name, value in split_overrides(extra):
        if "_" in name:
            deprecated(f"--{name}", f"--{name.replace('_', '-')}")
        pairs.append((name.replace("-", "_"), value))
    return kept, _yaml_values(pairs)


def yaml_sets(sets: list[str]) -> dict[str, object]:
    """The deprecated ``--set KEY=VALUE`` items as ``{"KEY": value read as YAML}``, warning for each."""
    return _yaml_values(set_overrides(sets))


def _yaml_values(pairs: list[tuple[str, str | None]]) -> dict[str, object]:
    import yaml

    out = {}
    for key, value in pairs:
        try:
            out[key] = True if value is None else yaml.safe_load(value)
        except yaml.YAMLError:
            out[key] = value
    return out


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    out = set()
    for action in parser._actions:
        out.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out |= _option_strings(sub)
    return out


def nest(overrides: dict[str, object]) -> dict:
    """``{"courses.generate": False}`` -> ``{"courses": {"generate": False}}`` (YAML layout)."""
    out: dict = {}
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        target = out
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return out


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test captures swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


_handler: logging.Handler | None = None
_progress = True


def show_progress() -> bool:
    """False after ``careerpath -q``: commands then draw no progress bars (True when used as a library)."""
    return _progress


def setup_logging(verbosity: int = 0) -> None:
    """The one logging setup: default INFO from careerpath, WARNING from libraries.

    ``-v`` DEBUG from careerpath and INFO from libraries, ``-vv`` DEBUG from everything, ``-q`` warnings
    only, ``-qq`` errors only. Called once per command; calling again replaces the previous setup.
    """
    global _handler, _progress
    _progress = verbosity >= 0
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = _StderrHandler()
    _handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(_handler)
    own = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO}.get(max(verbosity, -2), logging.DEBUG)
    libs = {-2: logging.ERROR, 1: logging.INFO}.get(max(min(verbosity, 2), -2), logging.WARNING)
    if verbosity >= 2:
        libs = logging.DEBUG
    root.setLevel(libs)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(own)


def add_importer_flags(p: argparse.ArgumentParser, name: str, example: str) -> None:
    """The flags every taxonomy importer shares (``careerpath data import-onet``/``import-esco``):
    ``--out``, ``--config`` (default ``configs/data/<name>_import.yaml``), ``--courses`` and the
    deprecated ``--set KEY=VALUE`` (``example``: a flag to show instead)."""
    p.add_argument("--out", required=True, help="catalog folder to write (replaced atomically)")
    p.add_argument(
        "--config", default=None, help=f"import thresholds YAML (default: configs/data/{name}_import.yaml)"
    )
    p.add_argument(
        "--courses", default=None, help="course catalog folder to re-tag (default: the bundled one)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"deprecated: write --key value (e.g. {example}) for any config key",
    )


def upload_failed(err: Exception) -> int:
    """Say why a Hub upload failed (network or auth problems from huggingface_hub) on stderr, in
    one line, and return the exit status 1."""
    print(
        f"error: upload failed ({type(err).__name__}: {str(err)[:200]}); log in with `hf auth login` "
        "(or set HF_TOKEN) and check the network",
        file=sys.stderr,
    )
    return 1
