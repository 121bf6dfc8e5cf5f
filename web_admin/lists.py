"""Lists: the curated categories and the parent's own lists with entry counts, last update and last error;
Update now (downloads in the background, then the DNS filter reloads); Add a list URL (through config.save)."""
from __future__ import annotations

import re
import threading
from datetime import datetime
from pathlib import Path

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from appliance import control
from appliance.lists.catalog import category_domains_path

from . import context, saving
from .saving import edits

bp = Blueprint("lists", __name__, url_prefix="/lists")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
_counts: dict[str, tuple[int, int]] = {}      # path -> (mtime_ns, entries)
_updating = threading.Lock()


def count_entries(path: Path) -> int | None:
    """Entries of a domains file (lines that are not blank or comments), cached by modification time."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    cached = _counts.get(str(path))
    if cached and cached[0] == mtime:
        return cached[1]
    with open(path, encoding="utf-8", errors="replace") as f:
        n = sum(1 for line in f if line.strip() and not line.lstrip().startswith(("#", "!")))
    _counts[str(path)] = (mtime, n)
    return n


def _iso(text: str | None):
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _page(form=None, errors=None) -> dict:
    from appliance.lists.sources import read_status
    cfg = context.config()
    cat = context.catalog()
    status = read_status(cfg)
    categories = [(c, count_entries(category_domains_path(cfg.blocklists_dir, c.name)),
                   sum(len(a.domains) for a in cat.apps.values() if a.category == c.name))
                  for c in cat.categories.values()]
    sources = []
    for s in cfg.lists.sources:
        st = status.get(s.name)
        sources.append({"source": s, "entries": st.entries if st else None,
                        "success": _iso(st.last_success) if st else None,
                        "error": st.last_error if st else None, "error_at": _iso(st.last_error_at) if st else None})
    return {"categories": categories, "sources": sources, "updating": _updating.locked(), "title": _("Lists"),
            "form": form or {}, "errors": errors or {}}


@bp.route("/")
def index():
    return render_template("lists.html", **_page())


@bp.post("/update")
def update():
    """Download every list now, off the request (a slow list host must not hold the page)."""
    from appliance.lists.sources import update_all
    cfg = context.config()
    if not any(s.url for s in cfg.lists.sources):
        flash(_("There is no list URL to update; the curated lists come with Hearth."), "info")
        return redirect(url_for("lists.index"))
    if not _updating.acquire(blocking=False):
        flash(_("An update is already running."), "info")
        return redirect(url_for("lists.index"))

    def run():
        try:
            update_all(cfg)
            try:
                control.request(cfg.data_dir, "reload", timeout=120)
            except OSError:
                pass          # no daemon: it compiles the new lists when it starts
        finally:
            _updating.release()
    threading.Thread(target=run, name="hearth-list-update", daemon=True).start()
    flash(_("Updating the lists. Reload this page in a minute to see the result."), "ok")
    return redirect(url_for("lists.index"))


@bp.post("/add")
def add():
    f = request.form
    cat = context.catalog()
    name = (f.get("name") or "").strip().lower().replace(" ", "-")
    url = (f.get("url") or "").strip()
    category = f.get("category") or ""
    errors = {}
    if not _NAME.match(name):
        errors["name"] = _("Name the list with letters a-z, digits, '-' or '_'.")
    elif any(s.name == name for s in context.config().lists.sources):
        errors["name"] = _("There is already a list named %(name)s.", name=name)
    if not re.match(r"^https?://[^\s/]+", url):
        errors["url"] = _("Give the list's address, starting with https://")
    if category not in cat.categories:
        errors["category"] = _("Choose the category the list feeds.")
    if not errors:
        result = saving.save_and_say(lambda doc: edits.add_list_source(doc, name, url, category),
                                     _("The list %(name)s is added; it is downloaded at the next update.",
                                       name=name))
        if result.ok:
            return redirect(url_for("lists.index"))
        errors["url"] = "; ".join(result.errors)
    return render_template("lists.html", **_page(f, errors)), 400


@bp.post("/remove")
def remove():
    name = request.form.get("name", "")
    saving.save_and_say(lambda doc: edits.remove_list_source(doc, name), _("The list %(name)s is removed.", name=name))
    return redirect(url_for("lists.index"))
