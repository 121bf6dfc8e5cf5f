"""The onboarding page: how a parent installs Hearth's certificate on a child's device, step by step for iOS,
Android, Windows and macOS, how the device reaches the proxy in each mode, and an honest list of what inspection
cannot do. Served by the proxy at http://hearth.setup/ (through the proxy) and meant for the admin as well: it
reads no mitmproxy and no request, only the config and the public certificate's path.
"""
from __future__ import annotations

from html import escape
from pathlib import Path

from ..config import Config

__all__ = ["onboarding_page", "onboarding_html", "onboarding_title", "ca_certificate", "CA_CERT_FILE"]

CA_CERT_FILE = "mitmproxy-ca-cert.pem"      # the public half, in the proxy's confdir; the key never leaves it

_STEPS = {
    "en": {
        "title": "Set up a child's device for Hearth's web filter",
        "intro": "Hearth reads the web pages of the devices you mark as managed, so it can block one page of a "
                 "site, force safe search and tell you about risky conversations. For that the device must trust "
                 "Hearth's certificate. Do this on the child's device, with its browser.",
        "download": "Download Hearth's certificate",
        "pem": "certificate (.pem: iPhone, iPad, Mac)", "cer": "certificate (.cer: Android, Windows)",
        "os": {
            "iPhone and iPad": [
                "Open this page in Safari and tap the .pem link; allow the download of a configuration profile.",
                "Settings → General → VPN & Device Management → Hearth (mitmproxy) → Install.",
                "Settings → General → About → Certificate Trust Settings → turn on full trust for mitmproxy.",
            ],
            "Android": [
                "Tap the .cer link; name it Hearth and choose \"VPN and apps\" or \"Wi-Fi\" if asked.",
                "Or: Settings → Security → Encryption & credentials → Install a certificate → CA certificate.",
                "Android 7 and later: only the browser (Chrome, Firefox with its setting on) uses it; apps do not.",
            ],
            "Windows": [
                "Download the .cer file and open it → Install Certificate → Local Machine.",
                "Choose \"Place all certificates in the following store\" → Trusted Root Certification "
                "Authorities → Finish.",
                "Firefox keeps its own list: Settings → Privacy & Security → Certificates → View → Import.",
            ],
            "macOS": [
                "Download the .pem file and open it: Keychain Access adds it to the login keychain.",
                "Double-click \"mitmproxy\" → Trust → When using this certificate: Always Trust.",
            ],
        },
        "reach": "How the device reaches the proxy",
        "modes": {
            "regular": "Set the device's proxy to automatic with this address (Wi-Fi settings → proxy → "
                       "automatic): {pac}",
            "transparent": "Nothing to set on the device: the Pi is its gateway (give it the Pi's address as "
                           "router in your router's DHCP reservations).",
            "wireguard": "Install the WireGuard app on the device and scan the QR code from the admin's "
                         "onboarding page.",
        },
        "limits": "What inspection cannot do",
        "limit_list": [
            "Apps on Android 7 and later ignore certificates you install: only browsers are read.",
            "Apps that pin their certificate (WhatsApp, Signal, Snapchat, Instagram's and TikTok's apps, banking "
            "and health apps, Apple and Google services) are passed through untouched: they are filtered by name, "
            "never read.",
            "HTTP/3 (QUIC, UDP port 443) skips the proxy: block UDP 443 from managed devices on the router so "
            "browsers fall back to TCP.",
            "A child who removes the certificate, or uses another network or mobile data, is not inspected.",
            "Hearth alerts on a sentence, never copies a whole page or conversation.",
        ],
    },
    "fr": {
        "title": "Préparer l'appareil d'un enfant pour le filtre web de Hearth",
        "intro": "Hearth lit les pages web des appareils que vous marquez comme gérés : il peut bloquer une page "
                 "d'un site, imposer la recherche sécurisée et vous prévenir d'une conversation à risque. Pour "
                 "cela l'appareil doit faire confiance au certificat de Hearth. Faites-le sur l'appareil de "
                 "l'enfant, avec son navigateur.",
        "download": "Télécharger le certificat de Hearth",
        "pem": "certificat (.pem : iPhone, iPad, Mac)", "cer": "certificat (.cer : Android, Windows)",
        "os": {
            "iPhone et iPad": [
                "Ouvrez cette page dans Safari et touchez le lien .pem ; autorisez le téléchargement du profil.",
                "Réglages → Général → VPN et gestion de l'appareil → Hearth (mitmproxy) → Installer.",
                "Réglages → Général → Informations → Réglages des certificats → activez la confiance totale.",
            ],
            "Android": [
                "Touchez le lien .cer ; nommez-le Hearth et choisissez « VPN et applis » ou « Wi-Fi ».",
                "Ou : Paramètres → Sécurité → Chiffrement et identifiants → Installer un certificat → "
                "Certificat CA.",
                "Android 7 et plus : seul le navigateur l'utilise ; les applis non.",
            ],
            "Windows": [
                "Téléchargez le fichier .cer et ouvrez-le → Installer le certificat → Ordinateur local.",
                "« Placer tous les certificats dans le magasin suivant » → Autorités de certification racines de "
                "confiance → Terminer.",
                "Firefox a sa propre liste : Paramètres → Vie privée et sécurité → Certificats → Importer.",
            ],
            "macOS": [
                "Téléchargez le fichier .pem et ouvrez-le : Trousseaux d'accès l'ajoute.",
                "Double-cliquez sur « mitmproxy » → Se fier → Toujours approuver.",
            ],
        },
        "reach": "Comment l'appareil passe par le proxy",
        "modes": {
            "regular": "Réglez le proxy de l'appareil sur automatique avec cette adresse (réglages Wi-Fi → "
                       "proxy → automatique) : {pac}",
            "transparent": "Rien à régler sur l'appareil : le Pi est sa passerelle (donnez l'adresse du Pi comme "
                           "routeur dans les réservations DHCP de votre box).",
            "wireguard": "Installez l'appli WireGuard sur l'appareil et scannez le QR code de la page "
                         "d'installation de l'admin.",
        },
        "limits": "Ce que l'inspection ne peut pas faire",
        "limit_list": [
            "Les applis d'Android 7 et plus ignorent les certificats installés : seuls les navigateurs sont lus.",
            "Les applis qui épinglent leur certificat (WhatsApp, Signal, Snapchat, les applis Instagram et "
            "TikTok, banques, santé, services Apple et Google) passent sans être lues : filtrées par leur nom, "
            "jamais lues.",
            "HTTP/3 (QUIC, UDP 443) contourne le proxy : bloquez l'UDP 443 des appareils gérés sur la box pour "
            "que les navigateurs repassent en TCP.",
            "Un enfant qui retire le certificat, ou passe par un autre réseau ou la 4G, n'est pas inspecté.",
            "Hearth alerte sur une phrase, sans jamais copier une page ou une conversation entière.",
        ],
    },
}


def ca_certificate(confdir: str | Path) -> bytes | None:
    """The proxy's public CA certificate (PEM), or None before the proxy first ran."""
    try:
        return (Path(confdir) / CA_CERT_FILE).read_bytes()
    except OSError:
        return None


def onboarding_html(config: Config, *, lang: str = "en", base: str = "/__hearth", pac_url: str | None = None) -> str:
    """The page's content without its head (the certificate links, the steps per system, how the device reaches
    the proxy, the limits), every outside word escaped: the admin shows it inside its own page."""
    w = _STEPS.get(lang, _STEPS["en"])
    mode = config.proxy.mode if config.proxy else "regular"
    pac = escape(pac_url or f"http://{config.proxy.listen if config.proxy else ''}{base}/proxy.pac")
    parts = [f"<p>{escape(w['intro'])}</p>",
             f"<h2>{escape(w['download'])}</h2><ul><li><a href=\"{base}/ca.pem\">{escape(w['pem'])}</a></li>"
             f"<li><a href=\"{base}/ca.cer\">{escape(w['cer'])}</a></li></ul>"]
    for system, steps in w["os"].items():
        parts.append(f"<h3>{escape(system)}</h3><ol>" + "".join(f"<li>{escape(s)}</li>" for s in steps) + "</ol>")
    parts.append(f"<h2>{escape(w['reach'])}</h2><p>{escape(w['modes'][mode]).format(pac=f'<code>{pac}</code>')}</p>")
    parts.append(f"<h2>{escape(w['limits'])}</h2><ul>" + "".join(f"<li>{escape(s)}</li>" for s in w["limit_list"])
                 + "</ul>")
    return "".join(parts)


def onboarding_title(lang: str = "en") -> str:
    return _STEPS.get(lang, _STEPS["en"])["title"]


def onboarding_page(config: Config, *, lang: str = "en", base: str = "/__hearth", pac_url: str | None = None) -> bytes:
    """The whole page. ``base``: where the certificate files are served; ``pac_url``: the PAC file's address as
    the device reaches it (the proxy's, or the admin's)."""
    title = escape(onboarding_title(lang))
    body = onboarding_html(config, lang=lang, base=base, pac_url=pac_url)
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width,initial-scale=1"><title>{title}</title><style>body{{font-'
            f'family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}'
            f'code{{word-break:break-all}}</style></head><body><h1>{title}</h1>{body}'
            f"</body></html>").encode("utf-8")
