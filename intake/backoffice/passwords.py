"""Password strength: long is not enough, "            " and "aaaaaaaaaaaa" are twelve characters too.

No scoring library: the checks that matter for a town's few accounts are length, variety, no repetition of a
short pattern, no run along the alphabet, the digits or a keyboard row, and no common password (French and
English lists' heads) however it is dressed up with capitals, digits and signs around it.
"""

from __future__ import annotations

import re
import unicodedata

MIN_LENGTH = 12
MIN_DISTINCT = 6
# Heads of public lists of the most used passwords (French and English), lower case, without accents.
COMMON = frozenset(
    """
123456 123456789 12345678 1234567890 azerty azertyuiop qwerty qwertyuiop motdepasse password passw0rd
soleil bonjour doudou loulou chouchou marseille jetaime jetaime1 nicolas julien thomas camille anthony
alexandre celine stephanie sandrine nathalie isabelle sophie caroline chocolat princesse coucou
football iloveyou admin administrateur administrator welcome letmein monkey dragon sunshine master
shadow superman batman trustno1 baseball starwars freedom whatever qazwsx michael jennifer mairie
guichet signalement bienvenue secret changeme changezmoi bonjour1 azerty1 azerty123 motdepasse1
password1 password123 admin123 root toor abc123 abcdef abcdefgh 000000 111111 121212 123123 654321
666666 696969 7777777 888888 987654321 a1b2c3 aaaaaa azertyui liverpool arsenal chelsea paris
france lyon toulouse bordeaux lille nantes strasbourg montpellier rennes nice mairie2024 mairie2025
mairie2026 hiver printemps automne ete vacances famille maison voiture cheval papillon
""".split()
)
ROWS = (
    "azertyuiopqsdfghjklmwxcvbn",
    "qwertyuiopasdfghjklzxcvbnm",
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "1qaz2wsx3edc4rfv",
    "1aqz2wsx3edc4rfv",
    "a1z2e3r4t5y6u7i8o9p0",
    "q1w2e3r4t5y6u7i8o9p0",
)


def _plain(text: str) -> str:
    """Lower case without accents."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _repeats_a_short_pattern(text: str) -> bool:
    """ "abcabcabcabc", "121212121212": the whole text is one short unit repeated."""
    return any(
        len(text) % size == 0 and text == text[:size] * (len(text) // size) for size in range(1, len(text) // 3 + 1)
    )


def _is_a_run(text: str) -> bool:
    """Letters or digits in order on the alphabet, the digits or a keyboard row, either way."""
    if len(text) < 4:
        return False
    return any(text in row or text in row[::-1] for row in ROWS for row in (row, row * 2))


def weakness(password: str, username: str = "") -> str | None:
    """Why `password` is too weak, in French, or None when it is strong enough."""
    if len(password) < MIN_LENGTH:
        return f"mot de passe trop court : {MIN_LENGTH} caractères au moins"
    if not password.strip():
        return "le mot de passe ne peut pas être fait d'espaces"
    if len(set(password)) < MIN_DISTINCT:
        return f"mot de passe trop répétitif : {MIN_DISTINCT} caractères différents au moins"
    plain = _plain(password)
    if username and username.lower() in plain:
        return "le mot de passe ne doit pas contenir l'identifiant"
    compact = re.sub(r"[\W_]+", "", plain)
    if _repeats_a_short_pattern(compact) or _repeats_a_short_pattern(plain):
        return "mot de passe trop prévisible : un motif répété"
    if _is_a_run(compact):
        return "mot de passe trop prévisible : une suite de touches ou de caractères"
    # A common password dressed up: "Motdepasse2026!", "azerty123456", "P@ssword!!!!".
    leet = re.sub(r"[\W_]+", "", plain.translate(str.maketrans("@4310$57", "aaeiosst")))
    for candidate in {compact, leet, re.sub(r"\d+$|^\d+", "", compact), re.sub(r"\d+$|^\d+", "", leet)}:
        if candidate in COMMON or not candidate or _is_a_run(candidate) or _repeats_a_short_pattern(candidate):
            return "mot de passe trop courant ou trop simple : choisissez une phrase de plusieurs mots"
    return None
