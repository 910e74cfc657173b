"""Writing a folder atomically, the one way every command does it (datasets, catalogs, models, reports).

The folder is built in a temporary folder beside its destination (same parent, so same file
system) and swapped in with renames: a reader, or a run killed at any point, sees the old folder
or the new one, never half of one. On an error the temporary folder is removed and the
destination is left as it was.

    with atomic_dir(out) as tmp:
        (tmp / "stats.json").write_text(...)
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_dir_beside(out: Path) -> Path:
    """A new empty folder ``.<name>.tmp-*`` beside ``out``, with the permissions ``mkdir`` gives
    (``mkdtemp`` makes it private, 0700, which the finished folder should not be)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    while True:  # mkdir honours the umask; no process-wide umask change (threads may be writing)
        tmp = out.parent / f".{out.name}.tmp-{secrets.token_hex(6)}"
        try:
            tmp.mkdir()
            return tmp
        except FileExistsError:
            continue


def replace_dir(tmp: Path, out: Path, keep: tuple[str, ...] = ()) -> None:
    """Swap the finished ``tmp`` in as ``out``: the old ``out`` is renamed aside first and removed
    after. ``keep``: entries of the old folder carried into the new one (unless it has its own)."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        for name in keep:
            if (old / name).exists() and not (tmp / name).exists():
                os.replace(old / name, tmp / name)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def merge_into_dir(tmp: Path, out: Path) -> None:
    """Move each entry of the finished ``tmp`` into ``out`` (replacing its namesake in one rename;
    ``out``'s other entries stay), or rename ``tmp`` to ``out`` when there is none yet."""
    if not out.exists():
        os.replace(tmp, out)
        return
    for entry in sorted(tmp.iterdir()):
        os.replace(entry, out / entry.name)
    shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def atomic_dir(out: str | Path, keep: tuple[str, ...] = (), merge: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder; when the block ends without an error it becomes ``out``
    (:func:`replace_dir`, or :func:`merge_into_dir` with ``merge=True``); on an error it is removed
    and ``out`` is untouched."""
    out = Path(out)
    tmp = temp_dir_beside(out)
    try:
        yield tmp
        if merge:
            merge_into_dir(tmp, out)
        else:
            replace_dir(tmp, out, keep)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
