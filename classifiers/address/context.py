"""Who an address belongs to: forwarded-mail headers, closing formulas, signatures, "j'habite au" cues."""

from __future__ import annotations

import re
from bisect import bisect_right

# Every pattern runs on normalize_text() output: lower case, no accents, punctuation kept.
# Addresses on forwarded-mail header lines ("De :", "À :", "Envoyé :", "Cc :") are nobody's problem: role "other".
# The "Objet :" line is the exception, on purpose: it is the citizen's own summary ("Objet : trou 12 rue X"), often
# the only place named, so it stays a problem's place, scored lower than the body's.
_HEADER = re.compile(
    r"^[ \t>]*(de|a|envoye|objet|from|to|sent|subject|cc|cci|date|expediteur|destinataire|pour)[ \t]*:.*$", re.M
)
_BOUNDARY = re.compile(
    r"^[ \t>]*(?:-{2,}[^\n]*(?:message|origine|original|transfere|forwarded)[^\n]*"
    r"|[^\n]{0,160}\ba ecrit ?:|[^\n]{0,160}\bwrote ?:)[ \t]*$",
    re.M,
)
# A strong closing starts the signature; a weak one ("Merci d'avance,") ends its own line, which stays content.
_STRONG = (
    "cordialement",
    "salutations",
    "amicalement",
    "respectueusement",
    "bien a vous",
    "bien a toi",
    "veuillez agreer",
    "prie d'agreer",
    "prie d agreer",
    "envoye de mon",
    "sent from my",
)
_WEAK = ("merci", "je vous remercie", "en vous remerciant", "bonne journee", "bonne soiree")
_DASHES = re.compile(r"^[ \t]*--[ \t]*$", re.M)  # the signature delimiter "-- "
_SENDER = re.compile(
    r"(?:\bj ?'?habite|\bhabitons|\b(?:un|une|je suis|en tant qu ?'?) ?habitante?|\briveraine?s?|\bdomicilie"
    r"|\bdemeurante?|\bje reside|\bresidante?|\bresidons|\b(?:mon|notre) (?:adresse|domicile)(?: postale)?(?: est)?"
    r"|\badresse postale|\bje suis au|\bnous sommes au|\bj ?'?occupe|\bemmenage[rz]?|\badresse suivante"
    r"|\bpar courrier|\bcopropriete|\b(?:madame|monsieur|mme|mr|mlle) [a-z'-]+)"
    r"[\s,:'\"]*(?:(?:a|au|aux|le|la|les|l|du|de|des|d|en|dans|n|no|numero|immeuble|situee?)\b[\s,:'°]*){0,4}$"
)
# A cheap first pass: the pattern above runs only where one of these occurs.
_SENDER_HINT = re.compile(
    r"habit|riverain|domicil|demeur|resid|adresse|suis au|sommes au|occupe|emmenag|courrier"
    r"|copropr|madame|monsieur|mme |mr |mlle "
)
_HOME = re.compile(
    r"\b(?:devant|en bas de|en face de|pres de|a cote de|dans) (?:chez (?:moi|nous)|(?:mon|notre) "
    r"(?:immeuble|domicile|maison|porte|entree|residence)|(?:ma|notre) (?:rue|porte))\b"
)
_CITY_LINE = re.compile(r"[\s,;:()\u2013-]*(?:\d{5}[ \t]*[a-z' -]*(?:\d+[a-z]*)?)?[\s.,]*$", re.M)
_POSTCODE = re.compile(r"\s*\d{5}\b")


def _closings(norm: str, end: int) -> list[int]:
    """Where signatures start before `end`: at a strong closing formula, after the line of a weak one (str.find
    is much faster than a regular expression here)."""
    found: list[int] = []
    for word in _STRONG:
        i = norm.find(word, 0, end)
        while i >= 0:
            if i == 0 or not norm[i - 1].isalnum():
                found.append(i)
            i = norm.find(word, i + 1, end)
    for word in _WEAK:
        i = norm.find(word, 0, end)
        while i >= 0:
            # the formula opens a short line; both look-ups are bounded so that a huge line costs no more
            line_start = norm.rfind("\n", max(0, i - 12), i) + 1
            line_end = norm.find("\n", i, i + len(word) + 41)
            line_end = len(norm) if line_end < 0 and len(norm) <= i + len(word) + 40 else line_end
            if line_end >= 0 and (line_start or i <= 12) and not norm[line_start:i].strip():
                tail = norm[i:line_end]
                if not any(c.isdigit() for c in tail):
                    found.append(line_end)
            i = norm.find(word, i + 1, end)
    if "--" in norm:
        found.extend(m.start() for m in _DASHES.finditer(norm, 0, end))
    return sorted(found)


class Context:
    """The parts of one normalised text that are not the citizen describing a problem."""

    def __init__(self, norm: str, *, until: int | None = None) -> None:
        """Read `norm`; closing formulas only before `until` (the last mention: later ones change nothing)."""
        self.norm = norm
        self.headers = (
            [(m.start(), m.end(), m.group(1) in ("objet", "subject")) for m in _HEADER.finditer(norm)]
            if ":" in norm
            else []
        )
        boundaries = {s for s, _, _ in self.headers}
        if "ecrit" in norm or "wrote" in norm or "--" in norm:
            boundaries |= {m.start() for m in _BOUNDARY.finditer(norm)}
        self.boundaries = sorted(boundaries)
        self._signatures(len(norm) if until is None else until)

    def _signatures(self, until: int) -> None:
        self.until = until
        self.signatures: list[tuple[int, int]] = []  # from a closing formula to the end of its segment
        for at in _closings(self.norm, until):
            following = bisect_right(self.boundaries, at)
            end = self.boundaries[following] if following < len(self.boundaries) else len(self.norm)
            if not self.signatures or self.signatures[-1][1] != end:
                self.signatures.append((at, end))

    def role(self, start: int) -> str:
        """ "other" in a forwarded-mail header, "sender" in a signature or after "j'habite au", else "problem"."""
        if any(s <= start < e and not subject for s, e, subject in self.headers):
            return "other"
        if start > self.until:
            self._signatures(len(self.norm))
        if any(s <= start < e for s, e in self.signatures):
            return "sender"
        window = max(0, start - 60)
        if _SENDER_HINT.search(self.norm, window, start) and _SENDER.search(self.norm, window, start):
            return "sender"
        return "problem"

    def in_subject(self, start: int) -> bool:
        """Whether the mention sits on a forwarded "Objet :" line (the citizen's words, but a terse summary)."""
        return any(s <= start < e and subject for s, e, subject in self.headers)

    def signature_like(self, start: int, end: int) -> bool:
        """A letterhead line: not the first line, short before the address, followed by a postcode and city
        (on the line or the next one) and by at most a few lines before the end of its segment."""
        norm = self.norm
        line_start = norm.rfind("\n", max(0, start - 61), start) + 1
        if line_start == 0:  # the first line, or more than 60 characters before the address on its line
            return False
        line_end = norm.find("\n", end)
        line_end = len(norm) if line_end < 0 else line_end
        if not _CITY_LINE.match(norm, end, line_end):
            return False
        following = bisect_right(self.boundaries, start)
        segment_end = self.boundaries[following] if following < len(self.boundaries) else len(norm)
        if norm.count("\n", line_end, segment_end) > 4:
            return False
        return bool(_POSTCODE.search(norm, end, line_end) or _POSTCODE.match(norm, line_end, segment_end))

    def forwarded_after(self, start: int) -> bool:
        """Whether a forwarded message's headers follow: what comes before is the forwarder's own text."""
        return any(s > start for s, _, _ in self.headers)

    def home(self) -> bool:
        """Whether the citizen places the problem at home ("devant chez moi", "dans ma rue")."""
        return _HOME.search(self.norm) is not None
