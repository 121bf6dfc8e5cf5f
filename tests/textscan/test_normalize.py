"""The normaliser: what a child types becomes the words the rules are written in."""
from __future__ import annotations

import pytest

from appliance.textscan.normalize import normalize, squeeze, words


@pytest.mark.parametrize("text, expected", [
    # case, accents, ligatures, look-alike letters from other alphabets
    ("KILL YOURSELF", "kil yourself"),
    ("t'as quel âge", "t as quel age"),
    ("mon cœur", "mon coeur"),
    ("kіll yourself", "kil yourself"),                 # Ukrainian і
    # repeated letters: every run becomes one letter, in the rules too
    ("soooo prettyyyy", "so prety"),
    ("pleeeease", "please"),
    ("killlll", "kil"),
    ("proud of myself", "proud of myself"),          # not "off myself"
    ("take care of yourself", "take care of yourself"),
    # spacing: letters written apart
    ("k y s", "kil yourself"),
    ("K.Y.S now", "kil yourself now"),
    ("s-e-x", "sex"),
    ("s u i c i d e toi", "suicide toi"),
    ("u r a loser", "you are a loser"),                # three letters that are words stay words
    # SMS spellings, English
    ("dont tell ur mom", "do not tell your mom"),
    ("i'll kill u", "i wil kil you"),
    ("wanna see my pics?", "want to see my pictures"),
    ("ppl r mean rn", "people are mean right now"),
    # SMS spellings, French
    ("jsuis dsl", "je suis desole"),
    ("jveux mourir", "je veux mourir"),
    ("pk tu me parles pas", "pourquoi tu me parles pas"),
    ("qqn a de la beuh", "quelqu un a de la beuh"),
    ("on se voit 2m1", "on se voit demain"),
    # French elisions, and "ne" dropped as children drop it
    ("j'ai plus envie", "je ai plus envie"),
    ("personne ne t'aime", "persone t aime"),
    ("qu'un chiffre", "que un chifre"),
    ("c nul", "c nul"),
    # leetspeak, only inside words with letters
    ("k1ll urs3lf", "kil yourself"),
    ("send n00dz", "send nudes"),
    ("c@m", "cam"),
    ("$h!t", "shit"),
    # numbers stay numbers
    ("i'm 13", "i am 13"),
    ("13ans", "13 ans"),
    ("$200", "200"),
    ("11 pills", "11 pils"),
    # nothing to read
    ("", ""),
    ("!!! ??? ...", ""),
])
def test_normalised_words(text, expected):
    assert " ".join(words(text)) == expected


def test_spans_point_back_at_the_original_text():
    text = "Hey!! dont tell ur MOM"
    n = normalize(text)
    assert n.words == ("hey", "do", "not", "tell", "your", "mom")
    assert [text[s:e] for s, e in n.spans] == ["Hey", "dont", "dont", "tell", "ur", "MOM"]


def test_spaced_letters_keep_one_span():
    text = "go k i l l yourself"
    n = normalize(text)
    assert n.words == ("go", "kil", "yourself")
    assert text[slice(*n.spans[1])] == "k i l l"


@pytest.mark.parametrize("word, expected", [
    ("kill", "kil"), ("2000", "2000"), ("aaa", "a"),
    # words that a squeeze would turn into another common word keep their double letter
    ("off", "off"), ("offfff", "off"), ("of", "of"), ("feel", "feel"), ("fell", "fell"), ("ass", "ass"),
    ("butt", "butt"), ("poisson", "poisson"), ("salle", "salle"), ("meet", "meet"), ("met", "met"),
])
def test_squeeze_only_letters(word, expected):
    assert squeeze(word) == expected
