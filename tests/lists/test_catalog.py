"""The shipped catalog loader: the happy path and errors that name the file."""
from __future__ import annotations

import pytest

from appliance.lists.catalog import CatalogError, load_catalog

from .conftest import write


def test_loads_categories_and_apps(blocklists):
    catalog = load_catalog(blocklists)
    assert list(catalog.categories) == ["dating", "random-chat"]
    chat = catalog.categories["random-chat"]
    assert (chat.title, chat.title_fr, chat.maintainer_note) == ("Random video chat", "Chat vidéo aléatoire",
                                                                 "Omegle clones.")
    dating = catalog.categories["dating"]
    assert dating.title_fr == "Dating" and dating.maintainer_note == ""      # French falls back to English
    tinder = catalog.apps["tinder"]
    assert (tinder.category, tinder.domains, tinder.notes) == ("dating", ("tinder.com", "gotinder.com"),
                                                               "Works over mobile data too.")
    with pytest.raises(TypeError):
        catalog.apps["other"] = tinder                                       # read-only mappings


def test_does_not_read_domain_lists(blocklists):
    (blocklists / "categories/dating/domains.txt").write_bytes(b"\xff\xfe garbage that is never read")
    assert "dating" in load_catalog(blocklists).categories


@pytest.mark.parametrize("path,text,message", [
    ("apps/tinder.yaml", "name: tinder\ntitle: Tinder\ncategory: datng\ndescription: x\ndomains: [a.com]\n",
     "apps/tinder.yaml: category: 'datng' is not a folder under categories/"),
    ("apps/kik.yaml", "name: kik2\ntitle: Kik\ncategory: dating\ndescription: x\ndomains: [kik.com]\n",
     "apps/kik.yaml: name must be the file's name ('kik')"),
    ("apps/kik.yaml", "title: Kik\ncategory: dating\ndescription: x\ndomains: []\n",
     "apps/kik.yaml: domains: a non-empty list of domains is required"),
    ("apps/kik.yaml", "title: Kik\ncategory: dating\ndescription: x\ndomains: [kik.com, 'bad domain']\n",
     "apps/kik.yaml: domains[1]: 'bad domain' is not a domain"),
    ("apps/kik.yaml", "category: dating\ndescription: x\ndomains: [kik.com]\n", "apps/kik.yaml: title: text required"),
    ("apps/kik.yaml", "title: [oops\n", "apps/kik.yaml: cannot read"),
    ("apps/kik.yaml", "- a list\n", "apps/kik.yaml: expected a mapping of fields, found list"),
    ("categories/gambling/category.yaml", "title: Gambling\n", "gambling/category.yaml: description: text required"),
    ("categories/Gambling/category.yaml", "title: G\ndescription: d\n", "a category folder name is lower case"),
    ("categories/gambling/domains.txt", "bet.com\n", "categories/gambling/category.yaml: missing"),
    ("categories/gambling/category.yaml", "title: G\ndescription: d\n", "categories/gambling/domains.txt: missing"),
])
def test_errors_name_the_file(blocklists, path, text, message):
    write(blocklists / path, text)
    with pytest.raises(CatalogError) as e:
        load_catalog(blocklists)
    assert any(message in err for err in e.value.errors), e.value.errors
    assert str(blocklists) in str(e.value)


def test_missing_root(tmp_path):
    with pytest.raises(CatalogError, match="no such directory"):
        load_catalog(tmp_path / "nowhere")


def test_all_errors_at_once(blocklists):
    write(blocklists / "apps/a.yaml", "title: A\ncategory: nope\ndescription: x\ndomains: [a.com]\n")
    write(blocklists / "apps/b.yaml", "title: B\ncategory: nope\ndescription: x\ndomains: [b.com]\n")
    with pytest.raises(CatalogError) as e:
        load_catalog(blocklists)
    assert len(e.value.errors) == 2


_TINDER = "name: tinder\ntitle: Tinder\ncategory: dating\ndescription: x\ndomains: [tinder.com, gotinder.com]\n"


def test_roles_are_optional_and_kept_per_role(blocklists):
    assert dict(load_catalog(blocklists).apps["tinder"].roles) == {}
    write(blocklists / "apps/tinder.yaml",
          _TINDER + "roles:\n  api: [api.gotinder.com]\n  media: [images-ssl.gotinder.com, gotinder.com]\n"
                    "  login: [TINDER.com]\n")
    roles = load_catalog(blocklists).apps["tinder"].roles
    assert dict(roles) == {"api": ("api.gotinder.com",), "media": ("images-ssl.gotinder.com", "gotinder.com"),
                           "login": ("tinder.com",)}
    with pytest.raises(TypeError):
        roles["web"] = ("tinder.com",)                                       # read-only like the rest


@pytest.mark.parametrize("roles,message", [
    ("roles: [api.gotinder.com]\n", "roles: expected a mapping"),
    ("roles:\n  backend: [api.gotinder.com]\n", "roles: 'backend' is not a role"),
    ("roles:\n  api: []\n", "roles: api: a non-empty list of hosts is required"),
    ("roles:\n  api: api.gotinder.com\n", "roles: api: a non-empty list of hosts is required"),
    ("roles:\n  api: ['bad host']\n", "roles: api[0]: 'bad host' is not a domain"),
    ("roles:\n  media: [tinder.com, cdn.example.net]\n",
     "roles: media[1]: cdn.example.net is not under any of the app's domains"),
    ("roles:\n  login: [notgotinder.com]\n", "roles: login[0]: notgotinder.com is not under any of the app's domains"),
])
def test_bad_roles_name_the_file_and_the_role(blocklists, roles, message):
    write(blocklists / "apps/tinder.yaml", _TINDER + roles)
    with pytest.raises(CatalogError) as e:
        load_catalog(blocklists)
    assert any(message in err and "apps/tinder.yaml" in err for err in e.value.errors), e.value.errors


def test_needs_are_exact_hosts_outside_the_apps_domains(blocklists):
    assert load_catalog(blocklists).apps["tinder"].needs == ()
    write(blocklists / "apps/tinder.yaml", _TINDER + "needs: [Images.Example-CDN.net, fonts.gstatic.com]\n")
    assert load_catalog(blocklists).apps["tinder"].needs == ("images.example-cdn.net", "fonts.gstatic.com")


@pytest.mark.parametrize("needs,message", [
    ("needs: fonts.gstatic.com\n", "needs: a list of host names"),
    ("needs: ['bad host']\n", "needs[0]: 'bad host' is not a host name"),
    ("needs: [api.gotinder.com]\n", "needs[0]: api.gotinder.com is under the app's own domains already"),
])
def test_bad_needs_name_the_file(blocklists, needs, message):
    write(blocklists / "apps/tinder.yaml", _TINDER + needs)
    with pytest.raises(CatalogError) as e:
        load_catalog(blocklists)
    assert any(message in err and "apps/tinder.yaml" in err for err in e.value.errors), e.value.errors


def test_the_catalog_is_read_again_when_a_file_changes_and_not_otherwise(tmp_path):
    """One process reads it several times (config validation, explain's titles): a change is never missed."""
    import shutil

    from tests.dns.conftest import write_blocklists
    root = write_blocklists(tmp_path / "bl")
    first = load_catalog(root)
    assert load_catalog(root) is first                      # nothing changed: the same (immutable) catalog
    app = root / "apps" / "tiktok.yaml"
    app.write_text(app.read_text().replace("title: TikTok", "title: TikTok Lite"))
    assert load_catalog(root).apps["tiktok"].title == "TikTok Lite"
    shutil.rmtree(root / "categories" / "dating")
    assert "dating" not in load_catalog(root).categories
    (root / "apps" / "tiktok.yaml").unlink()
    assert "tiktok" not in load_catalog(root).apps
