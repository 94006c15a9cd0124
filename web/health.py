"""The intake health page: every door's last success, backlog, failures and silences; retrying a failed message
and sending a failed notification again."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from intake.backoffice.health import collect, queue_info, recent_retries, retry_message
from intake.privacy.retention import retention_status
from web.common import res as _res

bp = Blueprint("health", __name__)

CHANNEL_NAMES = {
    "email": "email",
    "sms": "SMS / WhatsApp",
    "voice": "message vocal",
    "open311": "application",
    "telephone": "téléphone",
    "accueil": "accueil",
    "courrier": "courrier",
}
RAW_STATUS = {
    "pending": "en attente",
    "processing": "en cours",
    "processed": "traité",
    "failed": "en échec",
    "discarded": "écarté",
    "held": "retenu",
}
SEND_STATUS = {
    "pending": "à envoyer",
    "sending": "en cours d'envoi",
    "sent": "envoyé",
    "failed": "en échec",
    "suppressed": "non envoyé",
}
# Where the retry button may send the user back to (never a URL taken from the form).
RETURNS = {"sante": "health.page", "echecs": "queue.failed"}


def duration_fr(seconds: float | None) -> str:
    """A duration as staff read it: « 2 j 4 h », « 3 h 05 min », « 12 min », « moins d'une minute »."""
    if seconds is None:
        return "—"
    minutes = int(seconds // 60)
    if minutes < 1:
        return "moins d'une minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} j {hours} h" if hours else f"{days} j"
    if hours:
        return f"{hours} h {mins:02d} min" if mins else f"{hours} h"
    return f"{mins} min"


@bp.get("/sante-des-canaux")
def page() -> str:
    """Per door: last successful poll or webhook, backlog, failures, unusual silence; the queue and the sends."""
    from web.auth import current_agent

    res = _res()
    cfg = current_app.config["GUICHET"]
    snapshot = collect(res.factory, cfg)
    queue = queue_info(cfg)
    with res.factory() as session:
        retries = recent_retries(session, limit=10)
        retention = retention_status(session)
    agent = current_agent()
    return render_template(
        "intake_health.html",
        s=snapshot,
        queue=queue,
        retries=retries,
        rule=cfg.health,
        warnings=warnings(snapshot, queue),
        ago=lambda moment: duration_fr((snapshot.now - moment).total_seconds()),
        duration=duration_fr,
        channel_names=CHANNEL_NAMES,
        raw_status=RAW_STATUS,
        send_status=SEND_STATUS,
        show_recipients=bool(agent and agent.is_admin),
        max_attempts=cfg.worker.max_attempts,
        retention=retention,
        keep=cfg.privacy.retention,
    )


def _message(outcome: Any) -> tuple[str, str]:
    """The French flash message and its category for a retry outcome."""
    n = outcome.raw_id
    messages = {
        "missing": (f"Message n° {n} introuvable.", "erreur"),
        "refused": (
            f"Le message n° {n} n'est ni en échec ni bloqué (déjà traité ou en cours) : rien à relancer.",
            "erreur",
        ),
        "queued": (f"Message n° {n} remis dans la file : il sera traité dans un instant.", "info"),
        "pending": (
            f"Message n° {n} remis en attente, mais la file de traitement (Redis) est injoignable : "
            "il sera traité dès son retour.",
            "erreur",
        ),
        "busy": (
            f"Message n° {n} remis en attente : la base de données est momentanément indisponible "
            f"({outcome.error}). Réessayez dans un instant.",
            "erreur",
        ),
        "discarded": (f"Message n° {n} écarté : {outcome.error}.", "info"),
        "held": (f"Message n° {n} retenu pour examen : {outcome.error}.", "info"),
        "failed": (f"Message n° {n} de nouveau en échec : {outcome.error}", "erreur"),
        "skipped": (f"Message n° {n} déjà pris en charge par un autre traitement.", "info"),
    }
    if outcome.status == "processed":
        if outcome.tracking_number is None:
            return f"Message n° {n} traité.", "info"
        verb = "a créé le signalement" if outcome.created else "a été rattaché au signalement"
        return f"Message n° {n} traité : il {verb} n° {outcome.tracking_number}.", "info"
    return messages.get(outcome.status, (f"Message n° {n} : {outcome.status}.", "info"))


@bp.post("/sante-des-canaux/relancer")
def retry() -> Any:
    """Retry one failed message (recorded in the audit log with who and when); back to the page it came from."""
    from web.common import current_actor

    back = url_for(RETURNS.get(request.form.get("retour", ""), "health.page"))
    raw = (request.form.get("message") or "").strip()
    if not raw.isdigit() or len(raw) > 12:
        flash("Numéro de message invalide.", "erreur")
        return redirect(back), 303
    outcome = retry_message(_res(), int(raw), actor=current_actor())
    text, category = _message(outcome)
    flash(text, category)
    return redirect(back), 303


@bp.post("/sante-des-canaux/renvoyer")
def resend() -> Any:
    """Send again one failed notification (or all of them): back to pending, queued, sent by the workers."""
    from intake.runtime.housekeeping import reset_for_resend

    back = url_for("health.page")
    raw = (request.form.get("envoi") or "").strip()
    if raw != "tous" and (not raw.isdigit() or len(raw) > 12):
        flash("Numéro d'envoi invalide.", "erreur")
        return redirect(back), 303
    res = _res()
    ids = reset_for_resend(res.factory, None if raw == "tous" else [int(raw)])
    if not ids:
        flash("Rien à renvoyer : cet envoi n'est plus en échec.", "info")
        return redirect(back), 303
    flash(_send_again(res, ids), "info")
    return redirect(back), 303


def _send_again(res: Any, ids: list[int]) -> str:
    """Queue the sends for the workers (or send them here without Redis); the French outcome."""
    from intake.outbox.send import send_outbox_row

    cfg = res.config
    if cfg.redis_url:
        from intake.runtime.queue import enqueue_send, get_queue, redis_connection

        try:
            queue = get_queue(redis_connection(cfg, socket_connect_timeout=2, socket_timeout=2))
            for outbox_id in ids:
                enqueue_send(queue, outbox_id, timeout=cfg.worker.job_timeout)
        except Exception:  # the rows are pending: each worker's own sweep sends them within a few minutes
            return (
                f"{len(ids)} envoi(s) remis en attente ; la file (Redis) est injoignable : les workers les "
                "enverront d'eux-mêmes dans quelques minutes."
            )
        return f"{len(ids)} envoi(s) remis en file : ils partent dans un instant."
    sent = 0
    for outbox_id in ids:
        try:
            sent += send_outbox_row(res.factory, cfg, outbox_id, res.mailer, notifiers=res.notifiers) == "sent"
        except Exception:  # still pending: `guichet resend` or this button again later
            continue
    return f"{sent} envoi(s) sur {len(ids)} parti(s) ; les autres restent à renvoyer."


def warnings(snapshot: Any, queue: Any) -> list[str]:
    """What needs a look, in French, most serious first."""
    out: list[str] = []
    if queue.error:
        out.append(
            f"La file de traitement (Redis) est injoignable ({queue.error}). Les messages reçus sont "
            "conservés et seront traités à son retour."
        )
    elif queue.configured and not queue.workers:
        out.append("Aucun worker n'est actif : les messages reçus attendent d'être traités.")
    for door in snapshot.doors:
        if door.silence.state == "alerte":
            out.append(
                f"{door.label} : aucun message depuis {duration_fr(door.silence.counted)} (heures comptées), "
                f"d'habitude moins de {duration_fr(door.silence.threshold)}."
            )
        if door.poll_interval and door.poll_late:
            when = (
                f"il y a {duration_fr((snapshot.now - door.last_success_at).total_seconds())}"
                if door.last_success_at
                else "jamais"
            )
            out.append(f"{door.label} : dernière relève réussie {when}.")
        if door.last_error:
            out.append(f"{door.label} : erreur à la dernière relève — {door.last_error}")
    if snapshot.failed:
        out.append(f"{len(snapshot.failed)} message(s) en échec ou bloqué(s) : relancez-les après correction.")
    if snapshot.stale_claims:
        out.append(
            f"{snapshot.stale_claims} message(s) pris par un worker qui ne répond plus : ils seront repris "
            "automatiquement, et mis en échec (listés ci-dessous) s'ils ont déjà épuisé leurs tentatives ; "
            "« guichet retry » les reprend aussi."
        )
    failed_sends = sum(s.counts.get("failed", 0) for s in snapshot.sendings)
    if failed_sends:
        out.append(
            f"{failed_sends} envoi(s) aux citoyens en échec. Renvoyez-les ci-dessous ou avec « guichet resend »."
        )
    return out
