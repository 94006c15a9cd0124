"""Street-name normalization: accents, punctuation, abbreviations, French street-type words."""

from __future__ import annotations

import re
import unicodedata

# Canonical street-type words, normalized (no accents, lower case); multi-word types are space-joined.
STREET_TYPES: tuple[str, ...] = (
    "allee", "autoroute", "avenue", "barriere", "berge", "boucle", "boulevard", "butte", "carrefour", "chaussee",
    "chemin", "cite", "clos", "corniche", "cote", "cour", "cours", "descente", "digue", "domaine", "escalier",
    "esplanade", "faubourg", "galerie", "hameau", "impasse", "jardin", "lieu dit", "lotissement", "mail",
    "montee", "parc", "parvis", "passage", "passerelle", "place", "placette", "pont", "port", "porte",
    "promenade", "quai", "quartier", "rampe", "residence", "rocade", "rond point", "route", "rue", "ruelle",
    "sente", "sentier", "square", "terrasse", "traverse", "tunnel", "venelle", "villa", "voie", "zone",
)
_TYPE_SET = frozenset(STREET_TYPES)

# Articles and prepositions that carry no identity in a street name ("Rue de la Paix" ~ "rue paix").
STOP_WORDS: frozenset[str] = frozenset(
    {"a", "au", "aux", "d", "de", "del", "des", "du", "en", "et", "l", "la", "le", "les", "sur"}
)

# Abbreviations found in citizens' messages and in address files, token by token (after normalization).
ABBREVIATIONS: dict[str, str] = {
    "r": "rue", "rle": "ruelle",
    "bd": "boulevard", "bld": "boulevard", "blvd": "boulevard", "boul": "boulevard", "bvd": "boulevard",
    "av": "avenue", "ave": "avenue", "aven": "avenue", "avn": "avenue",
    "pl": "place", "plc": "place", "imp": "impasse", "all": "allee", "sq": "square",
    "fg": "faubourg", "fbg": "faubourg", "faub": "faubourg",
    "st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes",
    "qu": "quai", "qua": "quai", "crs": "cours", "pass": "passage", "psg": "passage", "rte": "route",
    "ch": "chemin", "chem": "chemin", "chm": "chemin", "res": "residence", "resid": "residence",
    "prom": "promenade", "vla": "villa", "ham": "hameau", "ld": "lieu dit", "lieudit": "lieu dit",
    "lot": "lotissement", "lotiss": "lotissement", "sent": "sentier", "rpt": "rond point", "rdpt": "rond point",
    "carr": "carrefour", "crf": "carrefour", "esp": "esplanade", "espl": "esplanade", "mte": "montee",
    "chau": "chaussee", "chss": "chaussee", "trav": "traverse", "pte": "porte", "tsse": "terrasse",
    "terr": "terrasse", "gal": "general", "gen": "general", "mal": "marechal",
    "pdt": "president", "dr": "docteur", "pr": "professeur", "prof": "professeur",
    "cdt": "commandant", "cmdt": "commandant", "lt": "lieutenant", "mgr": "monseigneur", "gde": "grande",
    "gd": "grand", "vx": "vieux",
}

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_ARRONDISSEMENT = re.compile(r"\s+\d{1,2}\s*(?:er|e|eme|ème)?\s+arrondissement\s*$", re.IGNORECASE)
_SMALL_WORDS = frozenset({"le", "la", "les", "de", "du", "des", "sur", "sous", "en", "et", "aux", "au", "lès", "d",
                          "l"})


def strip_accents(text: str) -> str:
    """Lower-case `text` and remove diacritics; œ/æ become oe/ae."""
    text = text.lower().replace("œ", "oe").replace("æ", "ae")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize_street(text: str) -> str:
    """The comparison form of a street name: "R. de l'Église-St-Jean" -> "rue de l eglise saint jean"."""
    plain = _NOT_ALNUM.sub(" ", strip_accents(text))
    return " ".join(ABBREVIATIONS.get(token, token) for token in plain.split())


def _type_of(word: str) -> str | None:
    if word in _TYPE_SET:
        return word
    if word.endswith("s") and word[:-1] in _TYPE_SET:  # "Cités Nouvelles", "Boulevards des Maréchaux"
        return word[:-1]
    return None


def split_type(normalized: str) -> tuple[str | None, str]:
    """Split a normalized street name into its leading street type (or None) and the rest."""
    words = normalized.split()
    if len(words) >= 2 and f"{words[0]} {words[1]}" in _TYPE_SET:
        return f"{words[0]} {words[1]}", " ".join(words[2:])
    if words:
        found = _type_of(words[0])
        if found is not None:
            return found, " ".join(words[1:])
    return None, normalized


def street_type(normalized: str) -> str | None:
    """The street-type word a normalized name starts with ("rue", "lieu dit"...), or None."""
    return split_type(normalized)[0]


def street_kind(normalized: str) -> str:
    """ "voie" for a name starting with a street type, "lieu-dit" otherwise ("Bonvillers Village", "Hameau X")."""
    found = street_type(normalized)
    return "lieu-dit" if found in (None, "lieu dit", "hameau") else "voie"


def is_street_type(word: str) -> bool:
    """Whether one normalized word (or an abbreviation of one) is a street type."""
    return _type_of(ABBREVIATIONS.get(word, word)) is not None


def core_tokens(normalized: str) -> tuple[str, ...]:
    """The identifying words of a normalized street name: without its type, articles and prepositions."""
    rest = split_type(normalized)[1]
    tokens = tuple(t for t in rest.split() if t not in STOP_WORDS)
    return tokens or tuple(rest.split())


def city_label(nom_commune: str) -> str:
    """The city as the national API shows it: "Paris 20e Arrondissement" -> "Paris", "PERRECY-LES-FORGES" ->
    "Perrecy-les-Forges"."""
    name = _ARRONDISSEMENT.sub("", " ".join(nom_commune.split()))
    if name.isupper():
        parts = re.split(r"([ \-'’])", name.lower())
        name = "".join(
            part if (i > 0 and part in _SMALL_WORDS) else part[:1].upper() + part[1:] for i, part in enumerate(parts)
        )
    return name
