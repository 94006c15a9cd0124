"""Deciding who the citizen is: unwrapping inline and attached forwards, innermost non-staff first."""

from __future__ import annotations

from dataclasses import dataclass, field

from .autoreply import in_domains
from .content import Content
from .forwarded import unwrap
from .markers import has_forward_prefix, has_reply_prefix, strip_forward_prefixes
from .mime import Candidate
from .model import Address

# An outer note longer than this is a message of its own, not a "please handle" over an attached mail.
_MAX_NOTE_FOR_ATTACHED_FORWARD = 600


@dataclass
class Layer:
    """One author in a forward chain: the outer message, then each forwarded message inside it."""

    sender: Address | None
    subject: str | None
    body: str
    words: str
    files: list[tuple[Candidate, str]] = field(default_factory=list)


@dataclass
class Resolution:
    """The outcome: the chain of layers and which one holds the citizen."""

    layers: list[Layer]
    citizen: int  # index into layers; 0 when the outer message is the citizen's own
    forwarded: bool
    unused: list[Content] = field(default_factory=list)  # enclosed messages that were not forwards

    @property
    def chosen(self) -> Layer:
        """The layer whose author is the citizen."""
        return self.layers[self.citizen]


def _blocks_forward(content: Content, *, automatic: bool) -> bool:
    # A bare "De : / Envoyé :" block is a forward under TR:/Fwd:, or when nothing marks a reply;
    # never in a bounce or an autoreply, which quote the message they answer.
    if automatic or content.is_report:
        return False
    if has_forward_prefix(content.subject):
        return True
    return not has_reply_prefix(content.subject) and content.in_reply_to is None and content.header_from is not None


def _descend(content: Content, layers: list[Layer], unused: list[Content], depth: int, *, automatic: bool) -> None:
    current = layers[-1]
    inline = unwrap(content.text, blocks_forward=_blocks_forward(content, automatic=automatic))
    if inline is not None:
        current.words = inline.note
        for level in inline.levels:
            layers.append(Layer(sender=level.sender, subject=level.subject, body=level.body, words=level.words))
        unused.extend(content.enclosed)
        return
    candidates = [] if content.is_report else content.enclosed
    short_note = len(current.words.strip()) <= _MAX_NOTE_FOR_ATTACHED_FORWARD
    if candidates and (has_forward_prefix(content.subject) or short_note) and depth < 5:
        inner = candidates[0]
        unused.extend(candidates[1:])
        layers.append(
            Layer(
                sender=inner.header_from,
                subject=inner.subject or None,
                body=inner.text,
                words=inner.text,
                files=list(inner.files),
            )
        )
        _descend(inner, layers, unused, depth + 1, automatic=False)
        return
    unused.extend(content.enclosed)


def resolve(outer: Content, *, own_domains: tuple[str, ...] = (), automatic: bool = False) -> Resolution:
    """Build the forward chain of ``outer`` and pick the innermost author outside ``own_domains``.

    ``automatic`` marks a bounce or autoreply: only explicit forward markers are followed then.
    """
    layers = [
        Layer(
            sender=outer.header_from,
            subject=outer.subject,
            body=outer.text,
            words=outer.text,
            files=list(outer.files),
        )
    ]
    unused: list[Content] = []
    _descend(outer, layers, unused, 0, automatic=automatic)
    if len(layers) == 1:
        # "TR:" with no header block left in the body: a forward whose citizen is lost.
        lost = (
            has_forward_prefix(outer.subject)
            and not automatic
            and not outer.is_report
            and not (own_domains and not in_domains(outer.header_from, own_domains))
        )
        if lost:
            layers.append(
                Layer(
                    sender=None,
                    subject=strip_forward_prefixes(outer.subject),
                    body=outer.text,
                    words=outer.text,
                )
            )
            layers[0].words = ""
        return Resolution(layers=layers, citizen=len(layers) - 1, forwarded=lost, unused=unused)
    citizen = len(layers) - 1
    while citizen > 0 and in_domains(layers[citizen].sender, own_domains):
        citizen -= 1
    return Resolution(layers=layers, citizen=citizen, forwarded=citizen > 0, unused=unused)
