"""Who may receive an SMS: allowed destinations, opt-outs, a daily cap, and a per-number sending rate."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.config import Twilio, TwilioOutbound
from intake.models import Contact, Outbox, utcnow
from intake.phones import DEFAULT_REGION, FRENCH_REGIONS, is_e164, is_mobile

log = logging.getLogger(__name__)
WHATSAPP = "whatsapp:"
TEXT_CHANNELS = ("sms", "whatsapp")
# Acknowledging STOP/START is required even to a number that just opted out.
OPT_OUT_EXEMPT_KINDS = frozenset({"stop_ack", "start_ack"})


def bare_number(recipient: str) -> str:
    """The E.164 number of a recipient, without the "whatsapp:" prefix."""
    value = recipient.strip()
    if value.lower().startswith(WHATSAPP):
        value = value[len(WHATSAPP) :]
    return value.strip()


def sms_regions(region: str) -> tuple[str, ...]:
    """The regions whose mobiles may get SMS: the whole French plan for a town in it, else its own region."""
    region = region.upper()
    return FRENCH_REGIONS if region in FRENCH_REGIONS else (region,)


def check_destination(
    recipient: str,
    settings: Twilio | TwilioOutbound,
    *,
    session: Session | None = None,
    kind: str = "",
    now: datetime | None = None,
    region: str = DEFAULT_REGION,
) -> str | None:
    """Why `recipient` must not get this message (French, for the back office), or None when allowed.

    `region` is the town's `town.phone_region`. Without a session only the number itself is checked; with
    one, opt-out and the daily cap too.
    """
    rules = settings.outbound if isinstance(settings, Twilio) else settings
    number = bare_number(recipient)
    if not is_e164(number):
        return "numéro de destination invalide (format international +33… attendu)"
    # SMS pumping: robots make us text premium or far-away numbers; only mobiles of the town's numbering plan
    # (France and its overseas territories for a French town) get SMS, judged on the numbering data's
    # assigned ranges rather than a hand list of prefixes that missed the overseas ones.
    if not is_mobile(number, regions=sms_regions(region)):
        return (
            f"destination {number[:4]}… : pas un numéro mobile de {', '.join(sms_regions(region))} "
            "(protection contre la fraude aux SMS)"
        )
    if rules.allowed_prefixes and not any(number.startswith(prefix) for prefix in rules.allowed_prefixes):
        return (
            f"destination {number[:4]}… hors des préfixes autorisés "
            f"({', '.join(rules.allowed_prefixes)}) : protection contre la fraude aux SMS"
        )
    if session is None:
        return None
    if kind not in OPT_OUT_EXEMPT_KINDS:
        opted_out = session.execute(select(Contact.opt_out).where(Contact.phone == number)).scalar_one_or_none()
        if opted_out:
            return "le destinataire a demandé à ne plus recevoir de SMS (STOP)"
    since = (now or utcnow()) - timedelta(hours=24)
    sent = session.execute(
        select(func.count())
        .select_from(Outbox)
        .where(
            Outbox.channel.in_(TEXT_CHANNELS),
            Outbox.recipient.in_((number, WHATSAPP + number)),
            Outbox.status == "sent",
            Outbox.sent_at >= since,
        )
    ).scalar_one()
    cap = rules.daily_cap_per_number
    if sent >= cap:
        return f"plafond de {cap} messages en 24 h atteint pour ce numéro"
    return None


# Reserve the next free slot of a sender number atomically: every worker sharing Redis gets its own
# slot, spaced by the interval, and learns how long to wait for it (microseconds, Redis' own clock).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, free)
local free_at = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d', free_at), 'PX', math.floor((free_at - now) / 1000) + 1000)
return slot - now
"""


class RateLimiter:
    """Spaces the sends of one sender number to `per_second`, across processes through Redis when given."""

    def __init__(
        self,
        redis: Any | None,
        per_second: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        prefix: str = "guichet:sms_rate:",
    ) -> None:
        self.redis = redis
        self.interval = 1.0 / per_second
        self.sleep = sleep
        self.prefix = prefix
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def _reserve_local(self, number: str) -> float:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(number, 0.0))
            self._next[number] = slot + self.interval
            return slot - now

    def reserve(self, number: str) -> float:
        """Take the next sending slot of `number`; return the seconds to wait before using it."""
        if self.redis is not None:
            interval_us = int(self.interval * 1_000_000)
            try:
                waited = self.redis.eval(_RESERVE, 1, self.prefix + number, interval_us)
                return max(0.0, int(waited) / 1_000_000)
            except Exception as exc:  # Redis only carries work: without it, limit this process alone
                log.warning("rate limiter: Redis unavailable (%s), limiting in process only", exc)
        return self._reserve_local(number)

    def wait(self, number: str) -> float:
        """Sleep just enough for `number` to stay under its rate; return the seconds slept."""
        delay = self.reserve(number)
        if delay > 0:
            self.sleep(delay)
        return delay
