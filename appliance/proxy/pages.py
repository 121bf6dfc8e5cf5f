"""The pages the proxy itself serves to a child's browser: the block page with its *Ask for access* button, the
page that says the ask went to a parent, and the PAC file for regular-proxy mode. Plain HTML, no script, no
outside resource (a CDN would leak who uses Hearth and fail when the Pi is offline), English and French.
"""
from __future__ import annotations

from html import escape

from ..model import Decision
from ..wording import describe

__all__ = ["block_page", "asked_page", "refused_page", "pac_file", "ASK_PATH", "SETUP_HOST"]

ASK_PATH = "/__hearth/ask"      # on the blocked host itself: the page's form posts here, the addon answers
SETUP_HOST = "hearth.setup"     # http://hearth.setup/ through the proxy: the onboarding page and the CA

_W = {
    "en": {
        "title": "This page is blocked", "why": "Why", "page": "Page",
        "ask": "Ask for access", "ask_help": "A parent gets your request on their phone. If they say yes, the page "
                                            "opens for {n} minutes: reload it then.",
        "asked_title": "Your parent has been asked",
        "asked": "Hearth sent your request for {host} to a parent. If they agree, reload the page in a minute.",
        "refused_title": "This request could not be sent",
        "refused": "The request did not come from Hearth's block page. Go back to the page and use its button.",
        "by": "Hearth, your family's filter",
    },
    "fr": {
        "title": "Cette page est bloquée", "why": "Pourquoi", "page": "Page",
        "ask": "Demander l'accès", "ask_help": "Un parent reçoit ta demande sur son téléphone. S'il accepte, la "
                                               "page s'ouvre pour {n} minutes : recharge-la alors.",
        "asked_title": "Ta demande est partie",
        "asked": "Hearth a envoyé ta demande pour {host} à un parent. S'il accepte, recharge la page dans une "
                 "minute.",
        "refused_title": "Cette demande n'a pas pu partir",
        "refused": "La demande ne vient pas de la page de blocage de Hearth. Retourne sur la page et utilise son "
                   "bouton.",
        "by": "Hearth, le filtre de la famille",
    },
}

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#222;"
          "line-height:1.5}h1{font-size:1.5rem}.why{background:#f4f4f4;padding:.75rem;border-radius:.5rem}"
          "button{font-size:1.1rem;padding:.6rem 1.2rem;border-radius:.5rem;border:0;background:#2d5fa8;"
          "color:#fff}small{color:#666}code{word-break:break-all}")


def _lang(lang: str) -> dict:
    return _W.get(lang, _W["en"])


def _page(lang: str, title: str, body: str) -> bytes:
    return (f'<!doctype html><html lang="{escape(lang)}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{body}"
            f"<p><small>{escape(_lang(lang)['by'])}</small></p></body></html>").encode("utf-8")


def block_page(decision: Decision, url: str, token: str, *, lang: str = "en", minutes: int = 30,
               titles=None) -> bytes:
    """Why the page is blocked, in words, and the button that asks a parent (a form posting to ASK_PATH)."""
    w = _lang(lang)
    why = describe(decision, lang=lang, titles=titles)
    form = (f'<form method="post" action="{ASK_PATH}"><input type="hidden" name="url" value="{escape(url)}">'
            f'<input type="hidden" name="token" value="{escape(token)}">'
            f'<button type="submit">{escape(w["ask"])}</button></form>'
            f'<p><small>{escape(w["ask_help"].format(n=minutes))}</small></p>')
    body = (f'<p class="why"><strong>{escape(w["why"])}:</strong> {escape(why)}</p>'
            f'<p>{escape(w["page"])}: <code>{escape(url)}</code></p>{form}')
    return _page(lang, w["title"], body)


def asked_page(host: str, *, lang: str = "en") -> bytes:
    w = _lang(lang)
    return _page(lang, w["asked_title"], f"<p>{escape(w['asked'].format(host=host))}</p>")


def refused_page(*, lang: str = "en") -> bytes:
    w = _lang(lang)
    return _page(lang, w["refused_title"], f"<p>{escape(w['refused'])}</p>")


def pac_file(proxy: str) -> str:
    """A PAC file sending a browser's web traffic through ``proxy`` ("192.168.1.2:8081"), and local names
    direct (the admin, the router, the printer)."""
    return ("function FindProxyForURL(url, host) {\n"
            "  if (isPlainHostName(host) || shExpMatch(host, \"*.local\") ||\n"
            "      isInNet(dnsResolve(host) || \"0.0.0.0\", \"10.0.0.0\", \"255.0.0.0\") ||\n"
            "      isInNet(dnsResolve(host) || \"0.0.0.0\", \"172.16.0.0\", \"255.240.0.0\") ||\n"
            "      isInNet(dnsResolve(host) || \"0.0.0.0\", \"192.168.0.0\", \"255.255.0.0\"))\n"
            "    return \"DIRECT\";\n"
            f"  return \"PROXY {proxy}\";\n"
            "}\n")
