"""The catalog: skills, courses, jobs and (optionally) job transitions.

Read from CSV or JSON/JSONL files in one folder (``skills.*``, ``courses.*``, ``jobs.*`` and an
optional ``transitions.*``), standardised through :mod:`careerpath.core.cleaning`, then validated. Every
problem is reported with the file, the row and the field, and what to do; nothing downstream runs
on an invalid catalog.

The records and the :class:`Catalog` are in :mod:`careerpath.core.catalog_model`, the reader and its
validation in :mod:`careerpath.core.catalog_reader`; this module is their public home.
"""

from __future__ import annotations

from careerpath.core.catalog_model import Catalog, CatalogError, Course, Job, Skill, Transition
from careerpath.core.catalog_reader import BUNDLED_DIR, ROW_MERGE_MIN, TABLES, load_catalog

__all__ = [
    "BUNDLED_DIR",
    "ROW_MERGE_MIN",
    "TABLES",
    "Catalog",
    "CatalogError",
    "Course",
    "Job",
    "Skill",
    "Transition",
    "load_catalog",
]
