"""Reading an O*NET release as published: the Excel or text folder or its zip (:class:`Release`),
each table's rows by column name with the header checked (:func:`onet_rows`), and the tables the
import uses, gathered per occupation (:func:`read_tables`)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from careerpath.core.cleaning import clean_text
from careerpath.importers.onet_names import _flag, _num, _s, sanitise_name

CODE = "O*NET-SOC Code"
# file -> columns the importer reads (all others are ignored)
ONET_TABLES = {
    "Occupation Data": (CODE, "Title", "Description"),
    "Skills": (CODE, "Element ID", "Element Name", "Scale ID", "Data Value"),
    "Knowledge": (CODE, "Element ID", "Element Name", "Scale ID", "Data Value"),
    "Job Zones": (CODE, "Job Zone"),
    "Alternate Titles": (CODE, "Alternate Title"),
    "Technology Skills": (CODE, "Example", "Commodity Title", "Hot Technology", "In Demand"),
    "Related Occupations": (CODE, "Related O*NET-SOC Code", "Relatedness Tier", "Index"),
    "Tasks to DWAs": (CODE, "DWA ID"),  # read by the transition model (careerpath/importers/mobility.py) only
}
REQUIRED_TABLES = ("Occupation Data", "Skills", "Knowledge")


class SourceError(ValueError):
    """A release that cannot be imported: names the file, sheet or column and what to do."""


class Release:
    """The files of a release: a folder (searched recursively) or a zip of one."""

    def __init__(self, path: str | Path, what: str = "O*NET"):
        self.path = Path(path)
        self.what = what
        if not self.path.exists():
            raise SourceError(f"{self.path}: not found; pass the {what} release folder or zip")
        self.zip = None
        if self.path.is_file():
            if not zipfile.is_zipfile(self.path):
                raise SourceError(
                    f"{self.path}: not a folder or a zip; pass the {what} release folder or zip"
                )
            self.zip = zipfile.ZipFile(self.path)
            self.members = [n for n in self.zip.namelist() if not n.endswith("/")]
        else:
            self.members = [str(p.relative_to(self.path)) for p in self.path.rglob("*") if p.is_file()]

    def find(self, stem: str, exts: tuple[str, ...]) -> str | None:
        """The member whose file name is ``stem.ext`` (case-insensitive), shortest path first."""
        wanted = {f"{stem}.{e}".lower() for e in exts}
        hits = sorted((m for m in self.members if Path(m).name.lower() in wanted), key=len)
        return hits[0] if hits else None

    def read_bytes(self, member: str) -> bytes:
        if self.zip is not None:
            return self.zip.read(member)
        return (self.path / member).read_bytes()

    def open(self, member: str):
        if self.zip is not None:
            return io.BytesIO(self.zip.read(member))
        return open(self.path / member, "rb")

    def label(self, member: str) -> str:
        return f"{self.path.name}:{member}" if self.zip is not None else str(self.path / member)


def _decode(data: bytes) -> str:
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def onet_rows(release: Release, table: str, required: bool = True) -> Iterator[dict] | None:
    """Rows of an O*NET table (``.xlsx`` streamed with openpyxl read-only, or tab-delimited ``.txt``).

    Returns None for a missing optional table; raises :class:`SourceError` naming the file and the
    missing columns otherwise.
    """
    member = release.find(table, ("xlsx", "txt"))
    if member is None:
        if required:
            raise SourceError(
                f"{release.path}: no '{table}.xlsx' or '{table}.txt'; pass the O*NET database folder or zip "
                "(Excel or text release, e.g. db_29_3_excel) that holds it"
            )
        return None
    columns = ONET_TABLES[table]
    if member.lower().endswith(".xlsx"):
        return _xlsx_rows(release, member, table, columns)
    return _txt_rows(release, member, table, columns)


def _check_header(header: list[str], columns, where: str) -> dict[str, int]:
    pos = {clean_text(h or ""): i for i, h in enumerate(header)}
    missing = [c for c in columns if c not in pos]
    if missing:
        raise SourceError(
            f"{where}: missing column(s) {', '.join(repr(c) for c in missing)} in the header row "
            f"(found {', '.join(repr(h) for h in pos if h) or 'nothing'}); use the file as published"
        )
    return {c: pos[c] for c in columns}


def _xlsx_rows(release: Release, member: str, table: str, columns) -> Iterator[dict]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(release.open(member), read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises several types for a damaged file
        raise SourceError(f"{release.label(member)}: not a readable .xlsx file ({e})") from None
    ws = wb.worksheets[0]
    where = f"{release.label(member)} (sheet '{ws.title}')"
    it = ws.iter_rows(values_only=True)
    header = next(it, None)
    if header is None:
        wb.close()
        raise SourceError(f"{where}: empty sheet; expected a header row with {', '.join(columns)}")
    pos = _check_header([str(h) if h is not None else "" for h in header], columns, where)
    return _gen_rows(it, pos, wb)


def _gen_rows(it, pos, wb=None) -> Iterator[dict]:
    try:
        for row in it:
            if not row or all(v is None or v == "" for v in row):
                continue
            yield {c: (row[i] if i < len(row) else None) for c, i in pos.items()}
    finally:
        if wb is not None:
            wb.close()


def _txt_rows(release: Release, member: str, table: str, columns) -> Iterator[dict]:
    text = _decode(release.read_bytes(member))
    reader = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    where = release.label(member)
    if header is None:
        raise SourceError(
            f"{where}: empty file; expected a tab-separated header row with {', '.join(columns)}"
        )
    pos = _check_header(header, columns, where)
    return _gen_rows(reader, pos)


@dataclass
class OnetTables:
    """What the import reads from a release, keyed by O*NET-SOC code."""

    occ: dict[str, tuple[str, str]]
    """Occupation -> (title, description)."""
    elements: dict[str, tuple[str, str]]
    """Skills/Knowledge element id (sk-/kn-) -> (name, category)."""
    ratings: dict[str, dict[str, dict[str, float]]]
    """Occupation -> element -> {"IM": importance, "LV": level}."""
    zones: dict[str, int]
    """Occupation -> Job Zone (1-5)."""
    alts: dict[str, list[str]]
    """Occupation -> alternate titles (sanitised)."""
    tech_rows: dict[str, list[tuple[str, bool, bool, str]]]
    """Occupation -> technology examples (name, hot, in demand, commodity)."""
    related: list[tuple[str, str, str, int]]
    """Related Occupations rows (from, to, tier, index)."""


# ---------------------------------------------------------------- reading the tables


def read_tables(release: Release) -> OnetTables:
    """The tables the import uses, rows of unknown occupations left out."""
    occ = _occupations(release)
    elements, ratings = _ratings(release, occ)
    zones: dict[str, int] = {}
    zone_rows = onet_rows(release, "Job Zones", required=False)
    for r in zone_rows or []:
        z = _num(r["Job Zone"])
        if z is not None and _s(r[CODE]) in occ:
            zones[_s(r[CODE])] = int(z)

    alts: dict[str, list[str]] = {}
    for r in onet_rows(release, "Alternate Titles", required=False) or []:
        alts.setdefault(_s(r[CODE]), []).append(sanitise_name(r["Alternate Title"]))

    tech_rows: dict[str, list[tuple[str, bool, bool, str]]] = {}
    for r in onet_rows(release, "Technology Skills", required=False) or []:
        code = _s(r[CODE])
        name = sanitise_name(r["Example"])
        if code in occ and name:
            tech_rows.setdefault(code, []).append(
                (
                    name,
                    _flag(r["Hot Technology"]),
                    _flag(r["In Demand"]),
                    clean_text(r["Commodity Title"] or ""),
                )
            )

    related: list[tuple[str, str, str, int]] = []
    rel_rows = onet_rows(release, "Related Occupations", required=False)
    for r in rel_rows or []:
        a, b = _s(r[CODE]), _s(r["Related O*NET-SOC Code"])
        idx = _num(r["Index"])
        if a in occ and b in occ and a != b:
            related.append((a, b, _s(r["Relatedness Tier"]), int(idx or 1)))
    return OnetTables(occ, elements, ratings, zones, alts, tech_rows, related)


def _occupations(release: Release) -> dict[str, tuple[str, str]]:
    occ: dict[str, tuple[str, str]] = {}
    for r in onet_rows(release, "Occupation Data"):
        code = _s(r[CODE])
        if code:
            occ[code] = (clean_text(r["Title"] or ""), clean_text(r["Description"] or ""))
    if not occ:
        raise SourceError(f"{release.path}: 'Occupation Data' has no rows; nothing to import")
    return occ


def _ratings(release: Release, occ: dict) -> tuple[dict[str, tuple[str, str]], dict]:
    """Skills and Knowledge: element -> (name, category); job -> element -> {IM, LV}."""
    elements: dict[str, tuple[str, str]] = {}
    ratings: dict[str, dict[str, dict[str, float]]] = {}
    for table, prefix, category in (("Skills", "sk", "skill"), ("Knowledge", "kn", "knowledge")):
        for r in onet_rows(release, table):
            scale = _s(r["Scale ID"])
            value = _num(r["Data Value"])
            code = _s(r[CODE])
            if scale not in ("IM", "LV") or value is None or code not in occ:
                continue
            eid = f"{prefix}-{clean_text(r['Element ID'])}"
            elements.setdefault(eid, (clean_text(r["Element Name"]), category))
            ratings.setdefault(code, {}).setdefault(eid, {})[scale] = value
    return elements, ratings
