"""Older config files, brought up to the format this code reads before it reads them (as AdGuard Home does).

A file without ``schema_version`` is version 1 (every file written before the key existed). Each step takes the
plain YAML data of one version and returns the next; they run in order, on data, before validation.
"""
from __future__ import annotations

from typing import Callable

from .schema import SCHEMA_VERSION


def _v1_to_v2(data: dict) -> dict:
    # Version 2 added sections (admin, alerts, metrics, query_log retention) and changed no existing key: a
    # version-1 file means the same thing as version 2.
    return data


STEPS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2}


def migrate(data: dict) -> tuple[dict, list[str]]:
    """(data at SCHEMA_VERSION without the key, errors). A file from a newer Hearth is refused, not guessed at."""
    data = dict(data)
    version = data.pop("schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return data, [f"schema_version: expected a whole number such as {SCHEMA_VERSION}, got {version!r}"]
    if version > SCHEMA_VERSION:
        return data, [f"schema_version: this file is version {version}, written by a newer Hearth; this one reads "
                      f"up to version {SCHEMA_VERSION} (upgrade Hearth, or restore the previous file)"]
    while version < SCHEMA_VERSION:
        data = STEPS[version](data)
        version += 1
    return data, []
