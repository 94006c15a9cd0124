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

# Where a sentence ends (on folded text), and where a clause may start a side remark inside a sentence.
_SENTENCE = re.compile(r"[.!?;\n]+|\s\d\s?\)\s")
_CLAUSE = re.compile(r",\s*(?=(?:mais|et aussi|et au passage|et en passant)\b)")
# A side remark ("aussi", not "aussi bien"; "au passage", not "au passage piéton"; "pas urgent"), on the words of a
# sentence joined by single spaces (apostrophes are gone: "j en profite").
_SIDE = re.compile(
    r"\b(?:aussi(?! bien)|au passage(?! (?:pieton|clout|protege|souterrain|de|du|des|sous)\b)|en passant|ensuite"
    r"|par ailleurs|j en profite|secondaire|moins (?:grave|urgent|important|genant|grand)|pas (?:tres )?urgent"
    r"|pas (?:tres )?grave|annexe|egalement|autre chose|a cote de ca|accessoirement|plus tard|peut attendre"
    r"|tant que j y suis|pendant que j y suis|ps)\b"
)
_NOT_MAIN = re.compile(r"\b(?:pas|moins) (?:tres |si )?(?:urgent|important|grave)\w*")
# The main problem named as such: such a sentence is never a side remark, whatever else it says.
_MAIN = re.compile(
    r"\b(?:surtout|principal\w*|urgen\w*|avant tout|le plus (?:important|urgent|grave|genant|dangereux|visible|"
    r"embetant|gros)|essentiel\w*|priorit\w*|d abord|en premier|vrai probleme|c est ca|sujet de mon|objet de mon"
    r"|preoccupe)\b"
)
_SHORT_CLAUSE = 5  # words of a closing side clause that speaks of the clause before it
_MIN_MAIN_WORDS = 4  # words outside side remarks needed for the message to have a main part at all


def _is_side(words: list[str]) -> bool:
    sentence = " ".join(words)
    return bool(_SIDE.search(sentence)) and not _MAIN.search(_NOT_MAIN.sub(" ", sentence))


def _clauses(sentence: str) -> list[tuple[list[str], bool]]:
    """A sentence's clauses with whether each is a side remark; a short side clause closing a sentence ("…, mais
    c'est secondaire") makes the clause before it a side remark too."""
    clauses = [words for part in _CLAUSE.split(sentence) if (words := _WORD.findall(part))]
    side = [_is_side(words) for words in clauses]
    for i in range(len(clauses) - 1, 0, -1):
        if side[i] and len(clauses[i]) <= _SHORT_CLAUSE:
            side[i - 1] = side[i - 1] or not _MAIN.search(_NOT_MAIN.sub(" ", " ".join(clauses[i - 1])))
    return list(zip(clauses, side, strict=True))


def _body_words(text: str, *, side_remarks: bool) -> list[str]:
    """The body's words, those of side remarks prefixed with SIDE (and those of the clause naming the main problem
    twice) when the rest says what the message is about."""
    clauses = [clause for sentence in _SENTENCE.split(text) if sentence for clause in _clauses(sentence)]
    if not side_remarks or not any(side for _, side in clauses):
        return [w for words, _ in clauses for w in words]
    if sum(len(words) for words, side in clauses if not side) < _MIN_MAIN_WORDS:
        return [w for words, _ in clauses for w in words]
    out: list[str] = []
    for words, side in clauses:
        if side:
            out.extend(SIDE + w for w in words)
        else:  # the clause that names the main problem counts twice
            out.extend(words * (2 if _MAIN.search(_NOT_MAIN.sub(" ", " ".join(words))) else 1))
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
