"""Back-office sessions kept in the database: the cookie only names one, so signing out ends it for good.

A session lasts `web.session_hours` from the sign-in (absolute, however busy the agent is); signing out
revokes it, and a new password revokes all of the account's. A copied cookie stops working with it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from intake.models import User, UserSession, utcnow
from intake.models import as_utc as _aware

KEEP_ENDED = timedelta(days=1)  # ended sessions are deleted a day later (signing in prunes them)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def open_session(session: Session, user: User, *, hours: float, ip: str | None = None) -> str:
    """Record a new sign-in of `user` lasting `hours`; the token for the cookie (only its hash is stored)."""
    now = utcnow()
    session.execute(delete(UserSession).where(UserSession.expires_at < now - KEEP_ENDED))
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=_digest(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
            ip=(ip or "")[:45] or None,
        )
    )
    session.flush()
    return token


def session_user(session: Session, user_id: int, token: str) -> User | None:
    """The account of a live session (not revoked, not expired, the account active); None otherwise."""
    row = session.execute(select(UserSession).where(UserSession.token_hash == _digest(token))).scalar_one_or_none()
    if row is None or row.user_id != user_id or row.revoked_at is not None or _aware(row.expires_at) <= utcnow():
        return None
    user = session.get(User, user_id)
    return user if user is not None and user.active else None


def revoke(session: Session, token: str) -> None:
    """End one session (signing out)."""
    session.execute(
        update(UserSession)
        .where(UserSession.token_hash == _digest(token), UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def revoke_all(session: Session, user_id: int) -> int:
    """End every open session of an account (a new password, a disabled account); how many."""
    result = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)
