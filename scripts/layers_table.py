"""Rewrite the layer table of docs/testing.md ("## Layout") from ``LAYERS`` in tests/test_layers.py,
the one place the layers are written (tests/test_layers.py checks the two agree).

    python scripts/layers_table.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_layers import LAYERS, PACKAGES  # noqa: E402


def table() -> list[str]:
    rows = ["| layer | what it holds | modules |", "|---|---|---|"]
    for name, what, modules in LAYERS:
        mods = " ".join(f"`{m}`" for m in modules if m not in PACKAGES)
        rows.append(f"| {name} | {what} | {mods} |")
    return rows


def main() -> None:
    path = ROOT / "docs" / "testing.md"
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## Layout"))
    head = next(i for i in range(start, len(lines)) if lines[i].startswith("| layer"))
    end = head
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    lines[head:end] = table()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{path.relative_to(ROOT)}: layer table rewritten ({len(LAYERS)} layers)")


if __name__ == "__main__":
    main()
