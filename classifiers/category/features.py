"""The text the category model sees: normalised words plus word stems that survive typos and plurals, with the
words of a side remark set apart when the message marks another problem as its main one.

A message about two problems names the one it is about ("c'est surtout ça", "le plus urgent", "problème
principal") and the other as a side remark ("il y a aussi…", "au passage…", "mais c'est secondaire"). The words of
such side sentences are written with a prefix (SIDE + word), so the bag-of-words model weighs them apart from the
same words said as the message's subject, and the words of the clause that names the main problem count twice; a
message without a side remark, or whose every sentence is one, is left as it is.
"""

from __future__ import annotations

import re

from classifiers.text import strip_accents

_WORD = re.compile(r"[a-z0-9]+")
_STEM = 5
SIDE = "xq"  # prefix of a side remark's words (letters only: the tokenizer splits punctuation off a word)

# Where a sentence ends (on folded text; a list number "2)" is dropped with it), and where a clause may start a
# side remark inside a sentence.
_SENTENCE = re.compile(r"[.!?;\n]+|\s\d\s?\)\s")
_CLAUSE = re.compile(r",\s*(?=(?:mais|et aussi|et au passage|et en passant)\b)")
# A side remark ("aussi", not "aussi bien"; "au passage", not "au passage piéton"; "pas urgent", "rien de grave",
# "passons"), on the words of a sentence joined by single spaces (apostrophes are gone: "j en profite").
_SIDE = re.compile(
    r"\b(?:aussi(?! bien)|au passage(?! (?:pieton|clout|protege|souterrain|de|du|des|sous)\b)|en passant|ensuite"
    r"|par ailleurs|j en profite|secondaire|moins (?:grave|urgent|important|genant|grand)"
    r"|pas (?:tres |bien |si )?(?:urgent|grave|mechant)|rien de (?:grave|nouveau)|annexe|egalement|autre chose"
    r"|a cote de ca|accessoirement|plus tard|peut attendre|tant que j y suis|pendant que j y suis|on fait avec"
    r"|on le sait|on connait|passons|c est la saison|rien d alarmant|pas pour ca que j ecris|ps)\b"
)
_NOT_MAIN = re.compile(r"\b(?:pas|moins|rien de) (?:tres |si |bien )?(?:urgent|important|grave)\w*")
# The main problem named as such: such a sentence is never a side remark, whatever else it says.
_MAIN = re.compile(
    r"\b(?:surtout|principal\w*|urgen\w*|avant tout|le plus (?:important|urgent|grave|genant|dangereux|visible|"
    r"embetant|gros|penible|inquietant)|essentiel\w*|priorit\w*|d abord|en premier|vrai (?:probleme|souci|sujet)"
    r"|c est ca|sujet de mon|objet de mon|preoccupe|inquiete|ce qui me gene|mon message concerne"
    r"|ce que je (?:signale|veux signaler|souhaite signaler|veux vraiment)|ce qui (?:compte|m importe|bloque|m embete)"
    r"|vraiment (?:grave|penible|dangereux))\b"
)
_REVANCHE = re.compile(r"\ben revanche\b")
_SHORT_CLAUSE = 5  # words of a closing side clause that speaks of the clause before it
_MIN_MAIN_WORDS = 4  # words outside side remarks needed for the message to have a main part at all


def _is_main(words: list[str]) -> bool:
    return bool(_MAIN.search(_NOT_MAIN.sub(" ", " ".join(words))))


def _is_side(words: list[str]) -> bool:
    return bool(_SIDE.search(" ".join(words))) and not _is_main(words)


def _clauses(sentence: str) -> list[tuple[list[str], bool]]:
    """A sentence's clauses with whether each is a side remark; a short side clause closing a sentence ("…, mais
    c'est secondaire") makes the clause before it a side remark too, and so does a main one after it ("X, mais ce
    qui me préoccupe c'est Y")."""
    clauses = [words for part in _CLAUSE.split(sentence) if (words := _WORD.findall(part))]
    side = [_is_side(words) for words in clauses]
    for i in range(len(clauses) - 1, 0, -1):
        if side[i] and len(clauses[i]) <= _SHORT_CLAUSE:
            side[i - 1] = side[i - 1] or not _is_main(clauses[i - 1])
    for i, words in enumerate(clauses):
        if i and words[0] == "mais" and _is_main(words):
            for j in range(i):
                side[j] = side[j] or not _is_main(clauses[j])
    return list(zip(clauses, side, strict=True))


def _body_words(text: str, *, side_remarks: bool) -> list[str]:
    """The body's words, those of side remarks prefixed with SIDE (and those of the clause naming the main problem
    twice) when the rest says what the message is about."""
    if not side_remarks:
        return _WORD.findall(text)  # exactly the words of the models saved before side remarks
    words = [w for sentence in _SENTENCE.split(text) if sentence for w in _WORD.findall(sentence)]
    joined = " ".join(words)
    if not (_SIDE.search(joined) or "mais" in words or _REVANCHE.search(joined)):
        return words  # no side remark possible (most messages): the same words, read at once
    sentences = [_clauses(sentence) for sentence in _SENTENCE.split(text) if sentence]
    sentences = [sentence for sentence in sentences if sentence]
    # "… X. Mais le plus urgent, c'est Y" ("En revanche, Y"): the sentence before is a side remark
    for previous, sentence in zip(sentences, sentences[1:], strict=False):
        first = sentence[0][0]
        if (first[0] == "mais" and _is_main(first)) or first[:2] == ["en", "revanche"]:
            previous[:] = [(w, side or not _is_main(w)) for w, side in previous]
    clauses = [clause for sentence in sentences for clause in sentence]
    if not any(side for _, side in clauses):
        return [w for words, _ in clauses for w in words]
    if sum(len(words) for words, side in clauses if not side) < _MIN_MAIN_WORDS:
        return [w for words, _ in clauses for w in words]
    out: list[str] = []
    for words, side in clauses:
        if side:
            out.extend(SIDE + w for w in words)
        else:  # the clause that names the main problem counts twice
            out.extend(words * (2 if _is_main(words) else 1))
    return out


def model_text(subject: str, text: str, *, side_remarks: bool = True, max_chars: int = 4000) -> str:
    """Subject and body as one normalised string of words, then a stem for each long word.

    Stems ("lampa" for lampadaire/lampadere/lampadaires) give the bag-of-words model some robustness to
    typos and inflection without the cost of a convolutional encoder; a side remark's words get no stem.
    `side_remarks=False` gives the text of the models trained before side remarks were set apart.
    """
    # accents folded: SMS without accents read like careful emails
    body = _body_words(strip_accents(text[:max_chars]), side_remarks=side_remarks)
    words = _WORD.findall(strip_accents(subject)) + body
    stems = [f"_{w[:_STEM]}" for w in words if len(w) > _STEM and not w.isdigit() and not w.startswith(SIDE)]
    return " ".join(words + stems)
