"""Text to a canonical list of words, each remembering where it came from, so rules match what a child types.

One pipeline for the messages and for the rules' own words (a rule written "don't tell" is compiled through it
too), so both sides always agree on a spelling:

  1. letters written apart are joined: "k.y.s", "s-e-x", "k i l l" (four or more single letters; three when the
     result is a known word: "k y s" yes, "u r a" no)
  2. each word: lower case, look-alike letters from other alphabets (Cyrillic "а"), accents dropped ("âge" ->
     "age"), ligatures spelt out ("cœur" -> "coeur")
  3. apostrophes: a French elision splits ("j'ai" -> "je ai", "t'es" -> "t es"), an English one is removed
     ("don't" -> "dont", then step 5 spells it "do not")
  4. common leetspeak inside words that mix letters with digits or symbols ("k1ll", "s3x", "n00dz", "c@m"); a
     number stays a number ("13", "$200" -> "200"), and "13ans" / "12yo" split into the number and the word
  5. SMS spellings and contractions, English and French ("u" -> "you", "jsuis" -> "je suis", "kys" -> "kill
     yourself", "2m1" -> "demain")
  6. every run of a repeated letter becomes one ("soooo" -> "so", "kill" -> "kil"): the canonical form, so
     "killlll" and "kill" meet; the same squeeze on the rules' side keeps "meet"/"met"-style merges harmless
  7. French "ne" is dropped, because children drop it ("personne t'aime" = "personne ne t'aime")

The spans let the scanner cut an excerpt from the original text, never from the normalised one.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Normalized", "normalize", "words", "squeeze"]


@dataclass(frozen=True, slots=True)
class Normalized:
    words: tuple[str, ...]               # canonical words
    spans: tuple[tuple[int, int], ...]   # for each word, (start, end) of what it came from in the original text


# --- tables ------------------------------------------------------------------------------------------------------

# Letters from other alphabets that look Latin, used to dodge filters ("kіll" with a Ukrainian i).
_HOMOGLYPHS = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ɡ": "g", "ο": "o", "α": "a",
    "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    "œ": "oe", "æ": "ae", "ß": "ss", "ø": "o", "ł": "l", "đ": "d", "ı": "i",
})

# Leetspeak: only applied inside a word that also has letters, so "13" stays a number.
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "9": "g",
                       "@": "a", "$": "s", "€": "e", "!": "i", "|": "l", "*": "", "+": "t"})

# French elisions: the letter before the apostrophe is a word of its own. "n" (ne) is dropped at step 7.
_ELISIONS = {"j": "je", "m": "me", "t": "t", "s": "s", "l": "l", "d": "de", "c": "c", "n": "n",
             "qu": "que", "jusqu": "jusque", "lorsqu": "lorsque", "puisqu": "puisque", "quelqu": "quelqu"}

# SMS spellings and contractions. Keys are looked up after repeats are cut to two letters ("pleeease" ->
# "pleease"); values are plain words. Only spellings that are not also an ordinary word of either language.
_SMS_EN = {
    "u": "you", "yu": "you", "ur": "your", "yr": "your", "youre": "you are", "ure": "you are",
    "r": "are", "k": "ok", "kk": "ok", "n": "and", "b4": "before", "2day": "today",
    "2nite": "tonight", "2night": "tonight", "tmrw": "tomorrow", "tmr": "tomorrow", "tomoz": "tomorrow",
    "l8r": "later", "gr8": "great", "m8": "mate", "h8": "hate", "w8": "wait", "4u": "for you",
    "any1": "anyone", "some1": "someone", "no1": "no one", "ne1": "anyone", "every1": "everyone",
    "pls": "please", "plz": "please", "plez": "please", "pleez": "please", "thx": "thanks", "thnx": "thanks",
    "bc": "because", "cuz": "because", "coz": "because", "cos": "because", "bcuz": "because", "bcoz": "because",
    "wanna": "want to", "tryna": "trying to", "gonna": "going to", "gotta": "got to", "gimme": "give me", "lemme": "let me",
    "dunno": "do not know", "idk": "i do not know", "ima": "i am going to", "imma": "i am going to",
    "im": "i am", "ive": "i have", "ill": "i will", "youll": "you will", "youve": "you have",
    "dont": "do not", "dnt": "do not", "doesnt": "does not", "didnt": "did not", "cant": "can not", "cannot": "can not",
    "wont": "will not", "wouldnt": "would not", "shouldnt": "should not", "isnt": "is not", "arent": "are not",
    "wasnt": "was not", "havent": "have not", "aint": "is not", "whats": "what is", "wheres": "where is",
    "hes": "he is", "shes": "she is", "theyre": "they are", "theyll": "they will", "thats": "that is",
    "rn": "right now", "atm": "at the moment", "ppl": "people", "sum": "some", "sumthin": "something",
    "nothin": "nothing", "luv": "love", "ily": "i love you", "bf": "boyfriend", "gf": "girlfriend",
    "pic": "picture", "pics": "pictures", "pix": "pictures", "picz": "pictures", "pik": "picture",
    "piks": "pictures", "vid": "video", "vids": "videos", "noods": "nudes", "noodz": "nudes", "nudez": "nudes", "nudz": "nudes",
    "nood": "nude", "kys": "kill yourself", "kms": "kill myself", "kysf": "kill yourself",
    "killurself": "kill yourself", "killyourself": "kill yourself", "urself": "yourself", "yourslf": "yourself",
    "asl": "age sex location", "wyd": "what are you doing", "hmu": "hit me up", "dm": "message",
    "dms": "messages", "msg": "message", "msgs": "messages", "txt": "text", "ph": "phone",
    "bday": "birthday", "skool": "school", "skl": "school", "okay": "ok", "lmk": "let me know",
    "tbh": "to be honest", "ngl": "not going to lie", "smh": "shaking my head", "stfu": "shut up",
    "gtfo": "get out", "fu": "fuck you", "omw": "on my way", "da": "the", "teh": "the",
    "wat": "what", "wut": "what", "wen": "when", "wer": "where", "tho": "though", "thru": "through",
    "snap": "snapchat", "sc": "snapchat", "insta": "instagram", "ig": "instagram",
    "whatsap": "whatsapp", "wa": "whatsapp",
}
_SMS_FR = {
    "jai": "je ai", "jsuis": "je suis", "jsui": "je suis", "chui": "je suis", "chuis": "je suis",
    "chu": "je suis", "jss": "je suis", "jveux": "je veux", "jveu": "je veux", "jvais": "je vais",
    "jvai": "je vais", "jv": "je vais", "jte": "je te", "jme": "je me", "jle": "je le", "jpp": "je en peux plus",
    "jpeux": "je peux", "jpense": "je pense", "jsp": "je sais pas", "jsais": "je sais", "jtm": "je te aime",
    "jtaime": "je te aime", "tkt": "t inquiete", "slt": "salut", "bjr": "bonjour", "cc": "coucou",
    "stp": "s il te plait", "svp": "s il vous plait", "dsl": "desole", "pk": "pourquoi", "pq": "pourquoi",
    "pkoi": "pourquoi", "pourkoi": "pourquoi", "koi": "quoi", "kwa": "quoi", "ki": "qui", "ke": "que",
    "kan": "quand", "qd": "quand", "kel": "quel", "kelle": "quelle", "koman": "comment", "cmt": "comment",
    "kom": "comme", "cmb": "combien", "cb1": "combien", "bcp": "beaucoup", "ds": "dans", "ns": "nous",
    "vs": "vous", "tt": "tout", "tjr": "toujours", "tjrs": "toujours", "pr": "pour", "pa": "pas",
    "mm": "meme", "oci": "aussi", "ossi": "aussi", "auj": "aujourd hui", "ajd": "aujourd hui",
    "2m1": "demain", "dem1": "demain", "a2m1": "a demain", "bi1": "bien", "b1": "bien", "rdv": "rendez vous",
    "keske": "qu est ce que", "kesk": "qu est ce que", "cad": "c est a dire", "cest": "c est", "ct": "c etait",
    "yaura": "il y aura", "tas": "t as", "telefone": "telephone",
    "portab": "portable", "stv": "si tu veux", "grv": "grave", "vrmt": "vraiment", "vrm": "vraiment",
    "mtn": "maintenant", "mnt": "maintenant", "tmtc": "toi meme tu sais", "askip": "a ce qu il parait",
    "tamer": "ta mere", "ntm": "nique ta mere", "fdp": "fils de pute", "tg": "ta gueule",
    "vtf": "va te faire foutre", "vtff": "va te faire foutre", "pd": "pede", "snp": "snapchat", "qqn": "quelqu un", "qqun": "quelqu un",
    "qlq": "quelque", "qq": "quelques", "wsh": "wesh",
    # an elided letter written alone in a rule or a message ("j ai") is the word it stands for
    "j": "je", "m": "me", "d": "de", "qu": "que",
}
SMS = {**_SMS_FR, **_SMS_EN}
# Words written apart that are still joined when they come as three letters only ("k y s", not "u r a").
_SPACED_SHORT = {"kys", "kms", "sex", "die", "cut", "gun", "fag", "pd", "tue", "nul"}

_WORD = re.compile(r"[\w@$€|*!+]+(?:['’`ʼ][\w@$€|*!+]+)*")
_SEPARATED = re.compile(r"(?<![\w])(?:[^\W\d_][.\-_*·•]){2,}[^\W\d_](?![\w])")   # k.y.s  s-e-x  k_i_l_l
_EDGE_DIGITS = re.compile(r"^(\d{2,})([a-z]+)$|^([a-z]+)(\d{2,})$")          # 13ans, 12yo, age13; not tu3
_APOS = re.compile(r"['’`ʼ]")
_REPEAT3 = re.compile(r"([^\W\d_])\1{2,}")
_REPEAT2 = re.compile(r"([^\W\d_])\1+")


# Words whose double letter is all that tells them from another common word of either language ("off" / "of",
# "feel" / "fell", "ass" / "as", "butt" / "but", "poisson" / "poison", "salle" / "sale"): they keep it, so
# "proud of myself" never reads "off myself". "offfff" still reaches "off".
_KEEP_DOUBLE = frozenset("""
    off feel fell see seen too good been meet shoot loose choose miss soon moon bee wee less pass mass hopping
    dinner latter add odd tee sell tell butt ass pee poop weed grass mess press
    comme homme donne bonne salle poisson coussin
""".split())


def squeeze(word: str) -> str:
    """Every run of a repeated letter becomes one (the canonical spelling), except in the few words above."""
    if word in _KEEP_DOUBLE:
        return word
    two = _REPEAT3.sub(r"\1\1", word)
    return two if two in _KEEP_DOUBLE else _REPEAT2.sub(r"\1", word)


# Lookup after squeezing only for keys that have no double letter (else "ill" would squeeze to French "il").
_SMS_SQUEEZED = {k: v for k, v in SMS.items() if squeeze(k) == k}


@lru_cache(maxsize=1 << 16)       # most words of a message were seen before: spell each once
def _canon(raw: str) -> tuple[str, ...]:
    return tuple(_one_word(_fold(raw)))


def _fold(word: str) -> str:
    word = word.lower().translate(_HOMOGLYPHS)
    if not word.isascii():
        word = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return word


def _one_word(raw: str) -> list[str]:
    """One token of the text (already folded) to its canonical words: zero, one or several."""
    raw = raw.strip("!*|+")
    if raw.startswith(("@", "$", "€")) and (len(raw) == 1 or not raw[1].isalpha()):
        raw = raw[1:]                        # "$200", "€20": the number
    if not raw:
        return []
    parts = _APOS.split(raw)
    out: list[str] = []
    if len(parts) > 1:
        head = parts[0]
        if head in _ELISIONS:                # French: j'ai, t'es, qu'il, l'age
            out.append(_ELISIONS[head])
            parts = ["".join(parts[1:])] if len(parts) > 1 else []
        else:                                # English: don't, i'm, you're
            parts = ["".join(parts)]
    for part in parts:
        out.extend(_spell(part))
    return [w for w in out if w and w not in ("ne", "n")]


def _spell(word: str) -> list[str]:
    if not word:
        return []
    word = word.replace("_", "")
    two = _REPEAT3.sub(r"\1\1", word)
    if two in SMS:
        return [squeeze(w) for w in SMS[two].split()]
    has_alpha = any(c.isalpha() for c in word)
    if not has_alpha:
        return [word.strip("@$€|*!+")] if any(c.isdigit() for c in word) else []
    m = _EDGE_DIGITS.match(word)
    if m:                                    # a number glued to a word: keep both
        a, b = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        return [w for part in (a, b) for w in _spell(part)]
    if not word.isalpha():
        word = word.translate(_LEET)
        if not word.isalpha():               # what leet did not explain: drop it ("f#ck" -> "fck")
            word = "".join(c for c in word if c.isalpha())
        two = _REPEAT3.sub(r"\1\1", word)
        if two in SMS:
            return [squeeze(w) for w in SMS[two].split()]
    one = squeeze(word)
    if one in _SMS_SQUEEZED:
        return [squeeze(w) for w in _SMS_SQUEEZED[one].split()]
    return [one]


def _joined(text: str) -> list[tuple[str, int, int]]:
    """Tokens of the text with their spans; letters written apart are joined into one token first."""
    tokens = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]
    # k.y.s, s-e-x: the regex above cuts them into letters, so find them on the text and merge.
    seps = [(m.start(), m.end()) for m in _SEPARATED.finditer(text)]
    if seps:
        merged, si = [], 0
        for tok in tokens:
            while si < len(seps) and seps[si][1] <= tok[1]:
                si += 1
            if si < len(seps) and seps[si][0] <= tok[1] < seps[si][1]:
                s, e = seps[si]
                letters = "".join(c for c in text[s:e] if c.isalpha())
                if merged and merged[-1][1] == s:
                    continue
                merged.append((letters, s, e))
            else:
                merged.append(tok)
        tokens = merged
    # k i l l: runs of single letters separated by single spaces.
    out: list[tuple[str, int, int]] = []
    i = 0
    while i < len(tokens):
        j = i
        while (j < len(tokens) and len(tokens[j][0]) == 1 and tokens[j][0].isalpha()
               and (j == i or tokens[j][1] - tokens[j - 1][2] == 1)):
            j += 1
        run = j - i
        if run >= 3:
            word = "".join(t[0] for t in tokens[i:j])
            if run >= 4 or _fold(word) in _SPACED_SHORT:
                out.append((word, tokens[i][1], tokens[j - 1][2]))
                i = j
                continue
        out.append(tokens[i])
        i += 1
    return out


def normalize(text: str) -> Normalized:
    words: list[str] = []
    spans: list[tuple[int, int]] = []
    for raw, start, end in _joined(text):
        core = raw.strip("!*|+")            # "Hey!!": the span is "Hey"
        if core and core != raw and text[start:end] == raw:
            start += raw.index(core[0])
            end = start + len(core)
        for w in _canon(raw):
            words.append(w)
            spans.append((start, end))
    return Normalized(tuple(words), tuple(spans))


def words(text: str) -> tuple[str, ...]:
    """The canonical words alone: what the rules' own words are compiled through."""
    return normalize(text).words
