"""Every Reason in words, in English and French: one sentence a parent reads."""
from __future__ import annotations

from datetime import time

import pytest

from appliance.model import Action, Decision, Reason
from appliance.wording import describe

B, A, R = Action.BLOCK, Action.ALLOW, Action.REWRITE
TITLES = {"app:tiktok": "TikTok", "random-chat": "Random video chat"}

CASES = [
    (Decision(B, Reason.SCHEDULE, "emma", schedule="bedtime"), time(7), None,
     "blocked: Emma's bedtime window *bedtime* blocks everything until 07:00",
     "bloqué : le créneau *bedtime* d'Emma bloque tout jusqu'à 07:00"),
    (Decision(B, Reason.SCHEDULE, "leo", list="app:tiktok", rule="tiktok.com", schedule="homework"), None, TITLES,
     "blocked: Leo's homework window *homework* blocks app TikTok",
     "bloqué : le créneau *homework* de Leo bloque l'application TikTok"),
    (Decision(B, Reason.APP, "emma", list="app:tiktok", rule="tiktok.com"), None, TITLES,
     "blocked: app TikTok", "bloqué : l'application TikTok"),
    (Decision(B, Reason.APP, "emma", list="app:tiktok", rule="tiktok.com"), None, None,
     "blocked: app tiktok", "bloqué : l'application tiktok"),
    (Decision(B, Reason.CATEGORY, "emma", list="random-chat", rule="omegle.com"), None, None,
     "blocked: category random-chat (omegle.com)", "bloqué : la catégorie random-chat (omegle.com)"),
    (Decision(B, Reason.CATEGORY, "emma", list="random-chat", rule="omegle.com"), None, TITLES,
     "blocked: category Random video chat (omegle.com)", "bloqué : la catégorie Random video chat (omegle.com)"),
    (Decision(A, Reason.ALLOW_LIST, "emma", list="allow", rule="khanacademy.org"), None, None,
     "allowed: on Emma's allow list (khanacademy.org)", "autorisé : sur la liste autorisée d'Emma (khanacademy.org)"),
    (Decision(A, Reason.ALLOW_LIST, "emma", rule="pronote.net", schedule="bedtime"), None, None,
     "allowed: on the allow list of Emma's bedtime window *bedtime* (pronote.net)",
     "autorisé : sur la liste autorisée du créneau *bedtime* d'Emma (pronote.net)"),
    (Decision(R, Reason.SAFE_SEARCH, "emma", list="google", rule="www.google.com",
              target="forcesafesearch.google.com"), None, None,
     "rewritten to safe search (google)", "redirigé vers la recherche sécurisée (google)"),
    (Decision(A, Reason.NONE, "emma"), None, None, "allowed: nothing blocks it", "autorisé : rien ne le bloque"),
    (Decision(B, Reason.CANARY, "emma", rule="use-application-dns.net", nxdomain=True), None, None,
     "blocked: the signal that keeps Firefox's own encrypted DNS off, so filtering stays on",
     "bloqué : le signal qui garde désactivé le DNS chiffré de Firefox, pour que le filtrage reste actif"),
    (Decision(A, Reason.ESSENTIAL, "emma", list="never-block", rule="connectivitycheck.gstatic.com"), None, None,
     "allowed: an essential service, never blocked (connectivitycheck.gstatic.com)",
     "autorisé : un service essentiel, jamais bloqué (connectivitycheck.gstatic.com)"),
    (Decision(B, Reason.PAUSED, "emma"), time(21, 30), None,
     "blocked: Emma's internet is paused until 21:30", "bloqué : l'internet d'Emma est en pause jusqu'à 21:30"),
    (Decision(B, Reason.PAUSED, "leo"), None, None,
     "blocked: Leo's internet is paused", "bloqué : l'internet de Leo est en pause"),
    (Decision(A, Reason.OVERRIDE, "emma", list="youtube", rule="youtube.com"), time(18), None,
     "allowed: youtube allowed for a while by a parent until 18:00",
     "autorisé : youtube autorisé pour un moment par un parent jusqu'à 18:00"),
    (Decision(B, Reason.DENY_LIST, "emma", list="deny", rule="roblox.com"), None, None,
     "blocked: on Emma's block list (roblox.com)", "bloqué : sur la liste de blocage d'Emma (roblox.com)"),
    (Decision(B, Reason.BYPASS, "emma", list="bypass", rule="dns.google", nxdomain=True), None, None,
     "blocked: a way around the filter, such as encrypted DNS, a VPN or a private relay (dns.google)",
     "bloqué : un moyen de contourner le filtre, comme un DNS chiffré, un VPN ou un relais privé (dns.google)"),
    (Decision(B, Reason.CNAME, "emma", list="random-chat", rule="chatroulette.com",
              target="tracker.chatroulette.com"), None, None,
     "blocked: the answer leads to tracker.chatroulette.com, which is blocked (category random-chat)",
     "bloqué : la réponse mène à tracker.chatroulette.com, qui est bloqué (la catégorie random-chat)"),
    (Decision(B, Reason.RATE_LIMIT, "default", rule="1000 queries per 60 s"), None, None,
     "refused: this device asked too many questions too fast (1000 queries per 60 s)",
     "refusé : cet appareil a posé trop de questions trop vite (1000 queries per 60 s)"),
    (Decision(B, Reason.SCHEDULE, "default", schedule="night"), None, None,
     "blocked: the default profile's night window *night* blocks everything",
     "bloqué : le créneau *night* du profil par défaut bloque tout"),
]


@pytest.mark.parametrize("d, until, titles, en, fr", CASES, ids=[f"{c[0].reason.value}-{i}" for i, c in
                                                                 enumerate(CASES)])
def test_describe(d, until, titles, en, fr):
    assert describe(d, until=until, titles=titles) == en
    assert describe(d, lang="fr", until=until, titles=titles) == fr


def test_every_reason_has_a_sentence_in_each_language():
    for reason in Reason:
        for lang in ("en", "fr"):
            text = describe(Decision(B, reason, "emma", list="x", rule="r", schedule="w", target="t"), lang=lang)
            assert text and "{" not in text and "None" not in text


def test_an_unknown_language_falls_back_to_english():
    assert describe(Decision(A, Reason.NONE, "emma"), lang="de") == "allowed: nothing blocks it"
