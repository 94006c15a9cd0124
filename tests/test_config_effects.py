"""Settings that must change what Guichet does: each one shown doing it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from intake.config import Config
from intake.outbox.notify import ConsoleMailer
from intake.runtime.resources import build_resources

# Paris 11e's town hall: messages written at the counter or signed by staff name it, it is never the problem.
TOWN_HALL = "12 place Léon Blum"
TEXT = f"Bonjour, je vous écris de la mairie du 11e, {TOWN_HALL}, pour signaler un lampadaire éteint."


@pytest.mark.parametrize("ignore", [[], [TOWN_HALL]])
def test_addresses_ignore_reaches_the_extractor(make_config: Callable[..., Config], ignore: list[str]) -> None:
    res = build_resources(make_config(addresses={"ignore": ignore}), mailer=ConsoleMailer())
    try:
        mention, geocoded = res.understanding().locate_text("Lampadaire", TEXT)
    finally:
        res.dispose()
    if ignore:
        assert geocoded is None and (mention is None or mention.score == 0)
    else:
        assert mention is not None and mention.voie == "Place Léon Blum" and geocoded is not None
        assert geocoded.label.startswith("12 Place Léon Blum")
