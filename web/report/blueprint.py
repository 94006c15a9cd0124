"""The `report` blueprint the modules of web/report/ register their views on, and what they share."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, url_for

bp = Blueprint("report", __name__)


def back(number: str, anchor: str = "") -> Any:
    """Back to the report's page (at `anchor`, e.g. "#position"), as the answer to a POST (303)."""
    return redirect(url_for("report.page", number=number) + anchor), 303
