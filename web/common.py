"""What every back-office view shares: who is acting, and sending the notifications a change queued."""

from __future__ import annotations

from flask import current_app


def current_actor() -> str:
    """Who acts in the back office, recorded on every event: the signed-in user, else the back office itself."""
    name = None
    if hasattr(current_app, "login_manager"):  # sign-in is set up
        from flask_login import current_user

        name = getattr(current_user, "username", None) if current_user.is_authenticated else None
    return str(name or "back-office")


def send_soon(outbox_ids: list[int]) -> None:
    """Queue the notifications; without Redis the sweeper sends them within a minute or two."""
    cfg = current_app.config["GUICHET"]
    if not outbox_ids or not cfg.redis_url:
        return
    try:
        from intake.runtime.queue import enqueue_send, get_queue, redis_connection

        queue = get_queue(redis_connection(cfg))
        for outbox_id in outbox_ids:
            enqueue_send(queue, outbox_id, timeout=cfg.worker.job_timeout)
    except Exception:  # the rows are committed: the sweeper will send them
        current_app.logger.exception("notifications %s not queued", outbox_ids)
