"""Polling the configured mailboxes into raw messages, recording each mailbox's health."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intake.config import ConfigError, Mailbox
from intake.models import MailboxState, utcnow
from intake.pipeline.rawstore import DatabaseSink

if TYPE_CHECKING:  # the runtime room builds the resources it hands to the doors
    from intake.runtime.resources import Resources


def imap_settings(mb: Mailbox, *, var: Path | None = None) -> Any:
    """Translate a configured mailbox into the IMAP channel's settings, revealing its secret (an OAuth2 mailbox
    gets a valid access token, cached under var/oauth2/; OAuth2Error, an ImapError, when the provider refuses)."""
    from intake.channels.imap import ImapSettings

    password = mb.password.reveal() if mb.password else None
    token = mb.oauth2_token.reveal() if mb.oauth2_token else None
    if mb.oauth2 is not None:
        from intake.channels.oauth2 import access_token

        if var is None:
            raise ConfigError(f"mailboxes[{mb.name}].oauth2 : dossier var/ inconnu pour garder le jeton")
        token = access_token(mb, cache_dir=var / "oauth2")
    if not password and not token:
        raise ConfigError(f"mailboxes[{mb.name}]: secret not found (environment variable or file is empty/missing)")
    return ImapSettings(
        name=mb.name,
        host=mb.host,
        port=mb.port,
        tls=mb.tls,
        starttls=mb.starttls,
        username=mb.username,
        password=password,
        oauth2_token=token,
        folder=mb.folder,
        processed_folder=mb.processed_folder if mb.after_store == "move" else None,
        after_store=mb.after_store,
        batch_size=mb.batch_size,
        timeout=mb.timeout,
        ssl_verify=mb.ssl_verify,
        ca_file=mb.ca_file,
    )


def _record(res: Resources, name: str, *, error: str | None) -> None:
    with res.factory() as session, session.begin():
        state = session.get(MailboxState, name)
        if state is None:
            state = MailboxState(name=name, last_uid=0)
            session.add(state)
        state.last_poll_at = utcnow()
        state.last_error = error
        if error is None:
            state.last_success_at = state.last_poll_at


def poll_once(
    res: Resources,
    name: str,
    *,
    enqueue: Callable[[int], None] | None = None,
    max_batches: int | None = None,
    on_step: Callable[[str, int], None] | None = None,
    enqueue_many: Callable[[list[int]], None] | None = None,
) -> Any:
    """Poll one mailbox once: store new mail a batch per commit, acknowledge it, hand the stored ids to
    `enqueue_many` a batch at a time (or to `enqueue` one by one)."""
    from intake.channels.imap import ImapError, poll_mailbox

    mb = res.config.mailbox(name)
    sink = DatabaseSink(res.factory, enqueue, enqueue_many)
    try:
        settings = imap_settings(mb, var=res.config.resolve_path("var"))  # an OAuth2 refusal is recorded too
        result = poll_mailbox(settings, sink, max_batches=max_batches, on_step=on_step)
    except ImapError as exc:
        _record(res, name, error=str(exc))
        raise
    _record(res, name, error="; ".join(result.errors) or None)
    return result
