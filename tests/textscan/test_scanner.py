"""The detector on messages: tables per category and language, the harmless texts that use the same words, the
excerpt it reports, and the labelled dev set's figures."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from appliance.textscan import Hit, scan
from appliance.textscan.scanner import MAX_EXCERPT, excerpt

DATA = Path(__file__).resolve().parent.parent / "data" / "textscan"

WORRYING = [
    # (language, category, message)
    ("en", "grooming", "don't tell your parents about our chats ok"),
    ("en", "grooming", "how old are u? ever had a boyfriend?"),
    ("en", "grooming", "send me a pic in your underwear, nobody will see it"),
    ("en", "grooming", "let's move to telegram, it's more private"),
    ("en", "grooming", "I can pick you up from school, just don't tell your mom"),
    ("en", "grooming", "age is just a number, you're very mature"),
    ("en", "grooming", "d0nt t3ll ur m0m about m3"),
    ("fr", "grooming", "dis rien à tes parents, c'est notre secret"),
    ("fr", "grooming", "t'as quel âge ? t'as déjà eu un copain ?"),
    ("fr", "grooming", "envoie moi une photo en culotte, personne la verra"),
    ("fr", "grooming", "on passe sur snap, c'est plus discret"),
    ("fr", "grooming", "je viens te chercher après les cours mais dis rien à ta mère"),
    ("fr", "grooming", "l'âge c'est juste un chiffre"),
    ("en", "self-harm", "i want to kill myself"),
    ("en", "self-harm", "I wanna dieeee, nothing matters"),
    ("en", "self-harm", "i started cutting myself again"),
    ("en", "self-harm", "everyone would be better off without me"),
    ("en", "self-harm", "i feel like cutting myself"),
    ("fr", "self-harm", "je veux mourir, plus rien n'a de sens"),
    ("fr", "self-harm", "je vais me suicider"),
    ("fr", "self-harm", "je me scarifie tous les soirs"),
    ("fr", "self-harm", "jsuis fatiguée de la vie"),
    ("en", "drugs", "who's selling weed near school?"),
    ("en", "drugs", "let's smoke a blunt after practice"),
    ("en", "drugs", "i popped a xanny at the party"),
    ("fr", "drugs", "qui vend de la beuh vers le lycée ?"),
    ("fr", "drugs", "on fume un bédo après l'entraînement"),
    ("fr", "drugs", "j'ai pris de la md à la soirée"),
    ("en", "bullying", "kys"),
    ("en", "bullying", "K Y S loser"),
    ("en", "bullying", "nobody likes you, leave the group chat"),
    ("en", "bullying", "ur such an ugly fat bitch"),
    ("en", "bullying", "kill yourself noob, gg"),          # in a game too: bullying (see en.yaml)
    ("fr", "bullying", "suicide-toi"),
    ("fr", "bullying", "personne t'aime, quitte le groupe"),
    ("fr", "bullying", "t'es une grosse pute"),
    ("fr", "bullying", "va crever sale bouffon"),
    ("en", "threats", "i'm going to kill you"),
    ("en", "threats", "i know where you live"),
    ("en", "threats", "pay me or everyone sees your nudes"),
    ("en", "threats", "i'm bringing a gun to school tomorrow"),
    ("fr", "threats", "je vais te buter"),
    ("fr", "threats", "je sais où tu habites"),
    ("fr", "threats", "paie moi sinon tout le monde verra tes photos"),
    ("fr", "threats", "je ramène un flingue au lycée demain"),
]

HARMLESS = [
    # the same words, used harmlessly
    ("en", "this homework is killing me"),
    ("en", "i'm dead lmao"),
    ("en", "i killed him with a headshot, gg"),
    ("en", "i'll kill you in fortnite tonight"),
    ("en", "keep it a secret, it's a surprise party for mom"),
    ("en", "don't tell mom i broke the vase"),
    ("en", "how old are you turning?"),
    ("en", "send me a pic of your cat"),
    ("en", "we learned about drugs in health class"),
    ("en", "the weed in the garden is taking over"),
    ("en", "coke or pepsi?"),
    ("en", "the news said a boy took his own life, so sad"),
    ("en", "i want to die my hair pink"),
    ("en", "nobody likes mondays"),
    ("en", "you're so stupid lol jk love you"),
    ("en", "i'm so high up on this ride"),
    ("en", "let's meet at the library with the study group"),
    ("en", "shoot me a text when you're home"),
    ("fr", "je suis mort de rire"),
    ("fr", "ce contrôle me tue"),
    ("fr", "je l'ai tué au jeu, gg"),
    ("fr", "je vais te défoncer à fortnite"),
    ("fr", "garde le secret, c'est une surprise pour maman"),
    ("fr", "dis pas à maman que j'ai cassé le vase"),
    ("fr", "tu vas avoir quel âge ?"),
    ("fr", "envoie moi une photo de ton chat"),
    ("fr", "en SVT on a parlé de la drogue"),
    ("fr", "coca ou pepsi ?"),
    ("fr", "aux infos ils ont parlé d'un ado qui s'est suicidé"),
    ("fr", "je meurs d'envie de voir ce film"),
    ("fr", "personne aime le lundi"),
    ("fr", "t'es trop bête mdr je rigole je t'aime"),
    ("fr", "mon tel va mourir, je te rappelle"),
    ("fr", "on se retrouve au CDI avec le groupe"),
    ("fr", "il a tiré au but"),
    ("fr", "ma mère va me tuer si je rentre tard"),
    ("en", "i'm so proud of myself"),                # "of myself" is not "off myself"
    ("en", "take care of yourself"),
    ("fr", "j'ai mis mon pull, lol"),
]


@pytest.mark.parametrize("lang, category, text", WORRYING)
def test_worrying_messages_hit_their_category(lang, category, text):
    hits = scan(text)
    assert category in {h.category for h in hits}, f"{text!r} gave {[h.rule for h in hits]}"
    assert all(h.rule.startswith(lang + ".") for h in hits if h.category == category)


@pytest.mark.parametrize("lang, category, text", WORRYING)
def test_the_language_given_limits_the_rules_asked(lang, category, text):
    other = "fr" if lang == "en" else "en"
    assert category in {h.category for h in scan(text, lang)}
    assert all(h.rule.startswith(other + ".") for h in scan(text, other))


@pytest.mark.parametrize("lang, text", HARMLESS)
def test_harmless_messages_with_the_same_words_do_not_hit(lang, text):
    assert scan(text) == (), [h.rule for h in scan(text)]


def test_unknown_language_is_a_clear_error():
    with pytest.raises(ValueError, match='no rules for language "de"'):
        scan("hallo", "de")


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "!!!", "12345", "🙂🙂🙂"])
def test_nothing_to_read_is_nothing_found(text):
    assert scan(text) == ()


def test_a_hit_is_frozen_and_says_what_parents_need():
    (hit,) = scan("i know where you live")
    assert isinstance(hit, Hit)
    assert hit.category == "threats" and hit.rule == "en.threat-to-hurt" and hit.description
    assert hit.as_dict() == {"category": "threats", "rule": "en.threat-to-hurt", "excerpt": "i know where you live"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.category = "bullying"


def test_the_excerpt_is_the_sentence_of_the_hit_never_the_page():
    page = ("Welcome to the forum. Please read the rules before posting. " * 40
            + "Honestly i want to kill myself tonight. "
            + "Thanks for reading, see you around. " * 40)
    (hit,) = scan(page)
    assert hit.category == "self-harm"
    assert hit.excerpt == "Honestly i want to kill myself tonight."


def test_a_long_sentence_is_cut_around_the_hit():
    sentence = "and then " * 60 + "she said kys to me" + " and then" * 60
    (hit,) = scan(sentence)
    assert len(hit.excerpt) <= MAX_EXCERPT + 2                     # the two ellipses
    assert "kys" in hit.excerpt and hit.excerpt.startswith("…") and hit.excerpt.endswith("…")


@pytest.mark.parametrize("text, start, end, expected", [
    ("First one. Second one here! Third.", 11, 17, "Second one here!"),
    ("no punctuation at all", 3, 14, "no punctuation at all"),
    ("line one\nline two has it\nline three", 9, 13, "line two has it"),
    ("Is it 3.5 kg? Yes.", 0, 2, "Is it 3.5 kg?"),                 # a decimal point is not a sentence end
])
def test_excerpt_table(text, start, end, expected):
    assert excerpt(text, start, end) == expected


def test_one_hit_per_rule_and_in_the_order_of_the_text():
    hits = scan("kys. Also i know where you live. kys again")
    assert [h.category for h in hits] == ["bullying", "threats"]


def _rows(split):
    for line in (DATA / f"{split}.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            lang, label, text = line.split("\t")
            yield lang, label, text


@pytest.mark.parametrize("split", ["dev", "heldout"])
def test_labelled_sets_are_well_formed_and_balanced(split):
    rows = list(_rows(split))
    for lang in ("en", "fr"):
        mine = [r for r in rows if r[0] == lang]
        labels = [label for _, label, _ in mine]
        assert set(labels) == {"grooming", "self-harm", "drugs", "bullying", "threats", "none"}
        assert labels.count("none") >= len(labels) - labels.count("none"), "as many harmless as worrying"


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_dev_set_meets_the_targets(lang):
    """The rules were tuned on this file: a regression guard (the held-out figures are in bench/textscan.py)."""
    tp = fp = fn = 0
    for lg, label, text in _rows("dev"):
        if lg != lang:
            continue
        cats = {h.category for h in scan(text)}
        if label == "none":
            fp += bool(cats)
        elif label in cats:
            tp += 1
        else:
            fn += 1
    assert tp / (tp + fp) >= 0.9 and tp / (tp + fn) >= 0.8, (tp, fp, fn)
