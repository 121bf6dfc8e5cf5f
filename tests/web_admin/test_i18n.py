"""Every message the admin shows is in French too, and the compiled catalog the app loads says what the .po says."""
from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from babel.support import Translations

WEB = Path(__file__).resolve().parents[2] / "web_admin"
FR = WEB / "translations" / "fr" / "LC_MESSAGES"
METHOD_MAP = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}


def extracted() -> set:
    return {msg for _f, _l, msg, _c, _ctx in extract_from_dir(str(WEB), METHOD_MAP, keywords=KEYWORDS)}


def test_every_message_has_a_french_translation():
    po = read_po(open(FR / "messages.po", "rb"))
    missing = []
    for msg in extracted():
        entry = po.get(msg if isinstance(msg, str) else msg[0])
        if entry is None or not (entry.string if isinstance(entry.string, str) else all(entry.string)):
            missing.append(msg)
    assert not missing, f"add French for: {missing} (pybabel update, then compile)"


def test_compiled_catalog_matches_the_po():
    po = read_po(open(FR / "messages.po", "rb"))
    with open(FR / "messages.mo", "rb") as f:
        mo = Translations(f)
    for entry in po:
        if not entry.id:
            continue
        if isinstance(entry.id, str):
            assert mo.gettext(entry.id) == entry.string, entry.id
        else:
            assert mo.ngettext(entry.id[0], entry.id[1], 2) == entry.string[-1], entry.id


def test_pages_in_french(parent, client):
    html = client.get("/children/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Ajouter un enfant" in html and "Enfants" in html
