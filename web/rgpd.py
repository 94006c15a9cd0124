"""Administrators answer a citizen's RGPD request (issue 12, RGPD 2): export or erase what is held about an
email or a phone number, the same as `guichet rgpd export|erase`, audited under a pseudonym."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_login import current_user

from intake.privacy.erasure import Actor
from intake.privacy.rights import (
    audit_export,
    erase_subject,
    export_subject,
    find_subject,
    parse_identifier,
    summary_fr,
)
from intake.pseudonyms import pseudonym, town_key
from web.common import cfg, res

bp = Blueprint("rgpd", __name__)


def _page(status: int = 200, **values: Any) -> tuple[str, int]:
    return render_template("rgpd.html", **values), status


def _who() -> Actor:
    return Actor(
        current_user.username,
        user_id=current_user.id,
        ip=(request.remote_addr or "")[:45],
        method=request.method,
        path=request.path,
    )


def _identifier() -> str:
    return parse_identifier(request.form.get("identifiant", ""), region=cfg().town.phone_region)


@bp.get("/admin/rgpd")
def form() -> tuple[str, int]:
    """The request form: an email or a phone number, then export or erase."""
    return _page()


@bp.post("/admin/rgpd/export")
def export() -> Any:
    """What is held about the person: the French summary on the page, or the whole JSON as a download."""
    try:
        identifier = _identifier()
    except ValueError as exc:
        return _page(400, erreur=str(exc), saisi=request.form.get("identifiant", "")[:320])
    config = cfg()
    key = town_key(config)
    with res().factory() as session, session.begin():
        subject = find_subject(session, identifier)
        data = export_subject(session, config, subject)
        audit_export(session, config, subject, key=key, actor=_who())
    if request.form.get("format") == "json":
        name = f"rgpd-{pseudonym(key, identifier, region=config.town.phone_region)}.json"
        return Response(
            json.dumps(data, ensure_ascii=False, indent=2),
            mimetype="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )
    return _page(resume=summary_fr(config, data), saisi=identifier, trouve=bool(subject.found))


@bp.post("/admin/rgpd/effacer")
def erase() -> Any:
    """Anonymise what is held about the person, once the identifier is typed a second time to confirm."""
    try:
        identifier = _identifier()
    except ValueError as exc:
        return _page(400, erreur=str(exc), saisi=request.form.get("identifiant", "")[:320])
    config = cfg()
    try:
        confirmed = parse_identifier(request.form.get("confirmation", ""), region=config.town.phone_region)
    except ValueError:
        confirmed = ""
    if confirmed != identifier:
        return _page(
            400,
            saisi=identifier,
            erreur="Pour effacer, retapez la même adresse ou le même numéro dans "
            "le champ de confirmation : l'effacement est définitif.",
        )
    with res().factory() as session, session.begin():
        subject = find_subject(session, identifier)
        if not subject.found:
            return _page(saisi=identifier, efface="Aucune donnée n'est détenue sur cette adresse ou ce numéro.")
        done = erase_subject(session, config, res().file_store, subject, key=town_key(config), actor=_who())
    return _page(
        efface=f"Effacé : {done.contacts} contact(s), {done.reports} signalement(s) anonymisé(s) "
        f"(catégorie, lieu et état conservés pour les statistiques), {done.messages} autre(s) "
        f"message(s), {done.sent} message(s) envoyé(s)."
    )
