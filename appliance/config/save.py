"""Changing the policy file the way a careful parent would by hand, for the admin and the CLI.

``save(path, edit)`` reads the file round-trip (ruamel.yaml: the parent's comments, order and quoting survive),
lets ``edit`` change the document, validates the result with exactly the checks ``hearth check-config`` runs,
and only then writes it atomically, keeping the file it replaced as ``<file>.previous``. The running daemon is
asked to reload and its answer is returned: the change is in force when the caller says so, not before.
"""
from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from appliance import control
from appliance.files import atomic_write

from .load import CatalogNames, load_text
from .schema import SCHEMA_VERSION, Config

Edit = Callable[["object"], None]    # mutates a ruamel CommentedMap in place


@dataclass(frozen=True)
class SaveResult:
    config: Config              # the config as written
    previous: Path | None       # the replaced file, kept beside it
    reload: dict | None         # the daemon's answer to the reload; None when no daemon is running


def _yaml():
    from ruamel.yaml import YAML     # late: only writers need it
    y = YAML()
    y.preserve_quotes = True
    y.width = 120
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def read_document(path: str | os.PathLike):
    """The file as a round-trip document (an empty mapping for an empty or missing file)."""
    from ruamel.yaml.comments import CommentedMap
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    doc = _yaml().load(text) if text.strip() else None
    return doc if doc is not None else CommentedMap()


def render(doc) -> str:
    _quote_ambiguous(doc)
    buf = io.StringIO()
    _yaml().dump(doc, buf)
    return buf.getvalue()


def save(path: str | os.PathLike, edit: Edit, *, notify_daemon: bool = True,
         catalog: CatalogNames | None = None) -> SaveResult:
    """Apply ``edit`` to the file at ``path``; raises ConfigError (nothing written) if the result is not valid."""
    path = Path(path)
    doc = read_document(path)
    edit(doc)
    if "schema_version" not in doc:
        doc.insert(0, "schema_version", SCHEMA_VERSION)
    text = render(doc)
    config = load_text(text, path, catalog=catalog)     # the same checks as check-config; raises on errors
    return _write(path, text, config, notify_daemon)


def replace(path: str | os.PathLike, text: str, *, notify_daemon: bool = True) -> SaveResult:
    """Put a whole file in place (a restored download), validated first; ConfigError leaves the old one."""
    path = Path(path)
    config = load_text(text, path)
    return _write(path, text, config, notify_daemon)


def _write(path: Path, text: str, config: Config, notify_daemon: bool) -> SaveResult:
    previous = None
    mode = None
    if path.exists():
        previous = path.with_name(path.name + ".previous")
        st = path.stat()
        mode = (st.st_mode & 0o7777, st.st_uid, st.st_gid)
        shutil.copy2(path, previous)
    atomic_write(path, text.encode("utf-8"))
    if mode is not None:             # the system install's 0640 root:hearth stays so
        os.chmod(path, mode[0])
        try:
            os.chown(path, mode[1], mode[2])
        except PermissionError:
            pass                     # the hearth user writing its own file: already its owner
    reply = None
    if notify_daemon:
        try:
            reply = control.request(config.data_dir, "reload", timeout=60)
        except OSError:
            reply = None
    return SaveResult(config, previous, reply)


def _quote_ambiguous(node) -> None:
    """Quote a new plain string that YAML 1.1 (which the daemon reads) would take for something else: "off",
    "yes", "21:00" (a number in base 60), "0700" (octal). ruamel writes YAML 1.2, where those are text."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString

    def fix(v):
        if isinstance(v, str) and not isinstance(v, ScalarString):
            try:
                resolved = yaml.safe_load(f"x: {v}")["x"] if "\n" not in v else v
            except yaml.YAMLError:
                resolved = None
            if not isinstance(resolved, str) or resolved != v:
                return DoubleQuotedScalarString(v)
        _quote_ambiguous(v)
        return v

    if isinstance(node, dict):
        for k in list(node):
            node[k] = fix(node[k])
    elif isinstance(node, list):
        for i, v in enumerate(node):
            node[i] = fix(v)
