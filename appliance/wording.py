"""A Decision in words a parent reads, in English or French: one sentence per Reason.

The query log stores every Decision whole, so the admin's log, ``hearth log`` and ``hearth explain`` all say the
same thing from the same fields. Nothing here reads files or the clock: a caller that knows when a pause or a
window ends passes ``until``, and one that has the catalog passes ``titles`` ("app:tiktok" -> "TikTok") so apps and
categories are named as the parent sees them elsewhere.
"""
from __future__ import annotations

from datetime import datetime, time
from typing import Mapping

from appliance.model import Action, Decision, Reason

__all__ = ["describe", "LANGUAGES"]

LANGUAGES = ("en", "fr")

# {p}: the profile, as a possessive ("Emma's", "d'Emma"); {w}: the window; {thing}: an app or a category in words;
# {rule}: the rule that matched; {list}: the list or target; {until}: " until 07:00" or "".
_EN = {
    Reason.NONE: "allowed: nothing blocks it",
    Reason.CANARY: "blocked: the signal that keeps Firefox's own encrypted DNS off, so filtering stays on",
    Reason.ESSENTIAL: "allowed: an essential service, never blocked ({rule})",
    Reason.PAUSED: "blocked: {p} internet is paused{until}",
    Reason.OVERRIDE: "allowed: {list} allowed for a while by a parent{until}",
    Reason.DENY_LIST: "blocked: on {p} block list ({rule})",
    (Reason.SCHEDULE, "everything"): "blocked: {p} {w} window *{w}* blocks everything{until}",
    (Reason.SCHEDULE, "thing"): "blocked: {p} {w} window *{w}* blocks {thing}{until}",
    (Reason.ALLOW_LIST, "window"): "allowed: on the allow list of {p} {w} window *{w}* ({rule})",
    Reason.ALLOW_LIST: "allowed: on {p} allow list ({rule})",
    Reason.APP: "blocked: {thing}",
    Reason.CATEGORY: "blocked: {thing} ({rule})",
    Reason.BYPASS: "blocked: a way around the filter, such as encrypted DNS, a VPN or a private relay ({rule})",
    Reason.SAFE_SEARCH: "rewritten to safe search ({list})",
    Reason.CNAME: "blocked: the answer leads to {target}, which is blocked ({thing})",
    Reason.RATE_LIMIT: "refused: this device asked too many questions too fast ({rule})",
    Reason.SCHOOL: "allowed: a school platform ({rule})",
    Reason.UNFILTERED: "allowed: {p} devices are not filtered",
    Reason.BUDGET: "blocked: {p} time budget *{w}* is used up for today ({thing}); it starts again at midnight",
    Reason.QUARANTINE: "blocked: a new device nobody has assigned yet; it gets only the essentials until a parent "
                       "assigns it to a child",
}
_FR = {
    Reason.NONE: "autorisé : rien ne le bloque",
    Reason.CANARY: "bloqué : le signal qui garde désactivé le DNS chiffré de Firefox, pour que le filtrage reste "
                   "actif",
    Reason.ESSENTIAL: "autorisé : un service essentiel, jamais bloqué ({rule})",
    Reason.PAUSED: "bloqué : l'internet {p} est en pause{until}",
    Reason.OVERRIDE: "autorisé : {list} autorisé pour un moment par un parent{until}",
    Reason.DENY_LIST: "bloqué : sur la liste de blocage {p} ({rule})",
    (Reason.SCHEDULE, "everything"): "bloqué : le créneau *{w}* {p} bloque tout{until}",
    (Reason.SCHEDULE, "thing"): "bloqué : le créneau *{w}* {p} bloque {thing}{until}",
    (Reason.ALLOW_LIST, "window"): "autorisé : sur la liste autorisée du créneau *{w}* {p} ({rule})",
    Reason.ALLOW_LIST: "autorisé : sur la liste autorisée {p} ({rule})",
    Reason.APP: "bloqué : {thing}",
    Reason.CATEGORY: "bloqué : {thing} ({rule})",
    Reason.BYPASS: "bloqué : un moyen de contourner le filtre, comme un DNS chiffré, un VPN ou un relais privé "
                   "({rule})",
    Reason.SAFE_SEARCH: "redirigé vers la recherche sécurisée ({list})",
    Reason.CNAME: "bloqué : la réponse mène à {target}, qui est bloqué ({thing})",
    Reason.RATE_LIMIT: "refusé : cet appareil a posé trop de questions trop vite ({rule})",
    Reason.SCHOOL: "autorisé : une plateforme scolaire ({rule})",
    Reason.UNFILTERED: "autorisé : les appareils {p} ne sont pas filtrés",
    Reason.BUDGET: "bloqué : le temps *{w}* {p} est épuisé pour aujourd'hui ({thing}) ; il repart à minuit",
    Reason.QUARANTINE: "bloqué : un nouvel appareil que personne n'a encore attribué ; il n'a que l'essentiel tant "
                       "qu'un parent ne l'attribue pas à un enfant",
}
_WORDS = {
    "en": {"app": "app {}", "category": "category {}", "list": "list {}", "until": " until {}"},
    "fr": {"app": "l'application {}", "category": "la catégorie {}", "list": "la liste {}", "until": " jusqu'à {}"},
}


def describe(decision: Decision, *, lang: str = "en", until: datetime | time | None = None,
             titles: Mapping[str, str] | None = None) -> str:
    """One sentence, e.g. "blocked: Emma's bedtime window *bedtime* blocks everything until 07:00"."""
    if lang not in LANGUAGES:
        lang = "en"
    table, words = (_FR if lang == "fr" else _EN), _WORDS[lang]
    d = decision
    key: object = d.reason
    if d.reason is Reason.SCHEDULE:
        key = (Reason.SCHEDULE, "thing" if d.list else "everything")
    elif d.reason is Reason.ALLOW_LIST and d.schedule and d.list is None:
        key = (Reason.ALLOW_LIST, "window")
    template = table.get(key) or table[Reason.NONE if d.action is Action.ALLOW else Reason.DENY_LIST]
    fields = {
        "p": _possessive(d.profile, lang),
        "w": d.schedule or "",
        "thing": _thing(d.list, words, titles),
        "rule": d.rule or d.list or "",
        "list": _title(d.list, titles) or d.target or "",
        "target": d.target or "",
        "until": words["until"].format(until.strftime("%H:%M")) if until is not None else "",
    }
    text = template.format(**fields)
    return text.replace(" ()", "")


def _possessive(profile: str, lang: str) -> str:
    if profile == "default":
        return "the default profile's" if lang == "en" else "du profil par défaut"
    name = profile[:1].upper() + profile[1:]
    if lang == "fr":
        return f"d'{name}" if name[:1].lower() in "aeiouyhéèêàâîôû" else f"de {name}"
    return f"{name}'s"


def _title(name: str | None, titles: Mapping[str, str] | None) -> str | None:
    if name is None:
        return None
    if titles:
        t = titles.get(name) or (titles.get(name[4:]) if name.startswith("app:") else None)
        if t:
            return t
    return name[4:] if name.startswith("app:") else name


def _thing(name: str | None, words: dict, titles: Mapping[str, str] | None) -> str:
    """An app, a category or a list, in words: "app TikTok", "category random-chat"."""
    if not name:
        return ""
    title = _title(name, titles)
    if name.startswith("app:"):
        return words["app"].format(title)
    if name in ("deny", "allow"):
        return words["list"].format(name)
    return words["category"].format(title)
