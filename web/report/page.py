"""GET /signalements/<number>: one report, its messages as received, photos, position, duplicates and history."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template
from markupsafe import Markup

from intake.backoffice.reportpage import report_for_page
from intake.geocoding.precision import describe, note
from intake.models import Report
from web.common import cfg, map_centre, res
from web.report.blueprint import bp

# What an email's HTML may keep on the page: text structure only (no links, images, styles or attributes).
SAFE_TAGS = frozenset(
    {
        "p",
        "br",
        "div",
        "span",
        "b",
        "i",
        "strong",
        "em",
        "ul",
        "ol",
        "li",
        "blockquote",
        "table",
        "tr",
        "td",
        "th",
        "tbody",
        "thead",
    }
)


def safe_html(html: str | None) -> Markup:
    """An email's HTML body sanitised for the page (nh3): SAFE_TAGS without any attribute or URL."""
    import nh3

    return Markup(nh3.clean(html or "", tags=set(SAFE_TAGS), attributes={}, url_schemes=set()))


@bp.get("/signalements/<number>")
def page(number: str, preview: dict[str, Any] | None = None) -> str:
    """One report: its messages as received, photos, position and history; `preview` shows a status notice."""
    from intake.channels.registry import PHRASES as CHANNEL_LABELS
    from intake.reports.assignment import assignable
    from intake.reports.statuses import duplicates, reporters_of

    centre = map_centre()  # may load the addresses: never inside the session below (SQLite's single writer)
    with res().factory() as session:
        rep = report_for_page(session, number)
        if rep is None:
            abort(404)
        linked = duplicates(session, rep)
        main = session.get(Report, rep.duplicate_of_id) if rep.duplicate_of_id else None
        channels = list(dict.fromkeys(CHANNEL_LABELS.get(r.channel, r.channel) for r in (rep, *linked)))
        users = assignable(session, rep)
        assignee = next((u.display_name for u in users if u.id == rep.assignee_id), None)
        replies_to = reporters_of(session, cfg(), rep)
        return render_template(
            "report.html",
            report=rep,
            safe_html=safe_html,
            linked=linked,
            main=main,
            channels=channels,
            channel_labels=CHANNEL_LABELS,
            preview=preview,
            assignable=[(u.id, u.display_name) for u in users],
            assignee=assignee,
            replies_to=replies_to,
            centre=centre,
            address=describe(rep),
            position_note=note(rep),
        )
