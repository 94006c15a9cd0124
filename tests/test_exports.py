"""intake/exports.py: cells French Excel reads safely, streamed CSV and GeoJSON, batched reading of the reports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from intake.backoffice.exports import BOM, COLUMNS, columns, csv_cell, csv_stream, geojson_stream, iter_rows, neutralise
from intake.backoffice.filters import ReportFilter
from intake.config import Config
from intake.outbox.notify import ConsoleMailer
from intake.runtime.resources import build_resources
from tests.web.test_map import add_report


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+33612345678", "'+33612345678"),
        ("-2 rue", "'-2 rue"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=cmd", "'\t=cmd"),
        ("\r=cmd", "'\r=cmd"),
        ("12 rue de la Paix", "12 rue de la Paix"),
        ("", ""),
        ("rue = 2", "rue = 2"),
    ],
)
def test_cells_starting_like_a_formula_are_neutralised(text: str, expected: str) -> None:
    assert neutralise(text) == expected


def test_cells_are_written_as_french_excel_reads_them(make_config: Callable[..., Config]) -> None:
    cfg = make_config()
    assert csv_cell(datetime(2026, 7, 14, 22, 5, tzinfo=UTC), cfg) == "15/07/2026 00:05"  # Paris, summer time
    assert csv_cell(datetime(2026, 1, 14, 22, 5), cfg) == "14/01/2026 23:05"  # naive (SQLite) values are UTC
    assert csv_cell(-1.5536, cfg) == "-1,553600"  # our own numbers are never prefixed
    assert csv_cell(float("nan"), cfg) == "" and csv_cell(None, cfg) == "" and csv_cell(42, cfg) == "42"
    assert csv_cell("=2+3", cfg) == "'=2+3"


def test_personal_columns_only_on_request() -> None:
    public = {c.key for c in columns(personal=False)}
    everything = {c.key for c in columns(personal=True)}
    assert public < everything and len(everything) == len(COLUMNS)
    assert {
        "auteur_nom",
        "auteur_courriel",
        "auteur_telephone",
        "description",
        "objet",
        "transmis_par_nom",
        "transmis_par_courriel",
    } == everything - public


def test_csv_stream_has_bom_semicolons_and_crlf(make_config: Callable[..., Config]) -> None:
    cfg = make_config()
    cols = columns(personal=False)
    rows = [{"numero": f"2026-{i:05d}", "adresse": '3; rue "des" Lilas\nbis', "latitude": 48.5} for i in range(1203)]
    text = "".join(csv_stream(rows, cols, cfg))
    assert text.startswith(BOM + "Numéro;Reçu le;")
    assert "\r\n" in text
    parsed = list(csv.reader(io.StringIO(text[len(BOM) :], newline=""), delimiter=";"))
    assert parsed[0] == [c.title for c in cols]
    assert len(parsed) == 1204  # chunked every 500 rows, nothing lost or doubled
    assert [r[0] for r in parsed[1:]] == [f"2026-{i:05d}" for i in range(1203)]
    assert parsed[5][cols.index(next(c for c in cols if c.key == "adresse"))] == '3; rue "des" Lilas\nbis'
    assert parsed[5][[c.key for c in cols].index("latitude")] == "48,500000"


def test_geojson_stream_is_valid_with_null_geometry_without_position(make_config: Callable[..., Config]) -> None:
    cfg = make_config()
    cols = columns(personal=False)
    rows = [
        {
            "numero": f"2026-{i:05d}",
            "latitude": 48.85 if i % 2 else None,
            "longitude": 2.35 if i % 2 else None,
            "recu_le": datetime(2026, 1, 1, 12, tzinfo=UTC),
        }
        for i in range(1001)
    ]
    doc = json.loads("".join(geojson_stream(rows, cols, cfg)))
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 1001
    assert doc["features"][0]["geometry"] is None
    assert doc["features"][1]["geometry"] == {"type": "Point", "coordinates": [2.35, 48.85]}
    props = doc["features"][1]["properties"]
    assert props["recu_le"] == "2026-01-01T13:00:00+01:00" and "latitude" not in props
    assert set(props) == {c.key for c in cols} - {"latitude", "longitude"}
    assert json.loads("".join(geojson_stream([], cols, cfg))) == {"type": "FeatureCollection", "features": []}


def test_rows_are_read_in_batches_each_exactly_once(make_config: Callable[..., Config]) -> None:
    cfg = make_config()
    res = build_resources(cfg, mailer=ConsoleMailer())
    main = add_report(res, "2026-00001")
    for i in range(2, 12):
        add_report(
            res,
            f"2026-{i:05d}",
            category="eclairage" if i % 3 == 0 else "voirie",
            service="eclairage" if i % 3 == 0 else "voirie",
            duplicate_of_id=main if i == 11 else None,
        )

    def read(flt: ReportFilter, scope: str | None = None, batch: int = 3) -> list[str]:
        return [
            r["numero"]
            for r in iter_rows(
                res.factory,
                cfg,
                flt,
                service_scope=scope,
                personal=False,
                link=lambda n: "https://mairie.example/signalements/" + n,
                batch=batch,
            )
        ]

    everything = [f"2026-{i:05d}" for i in range(10, 0, -1)]  # the duplicate (11) hidden by default
    assert read(ReportFilter()) == everything
    assert read(ReportFilter(), batch=5) == everything  # a batch boundary right at the end
    assert read(ReportFilter(), batch=1000) == everything
    assert read(ReportFilter(duplicates="inclus"))[0] == "2026-00011"
    assert read(ReportFilter(), scope="eclairage") == ["2026-00009", "2026-00006", "2026-00003"]
    row = next(
        iter_rows(
            res.factory,
            cfg,
            ReportFilter(duplicates="seuls"),
            service_scope=None,
            personal=False,
            link=lambda n: "L" + n,
        )
    )
    assert row["doublon_de"] == "2026-00001" and row["lien"] == "L2026-00011" and row["statut"] == "Nouveau"
    assert row["categorie"] == "Voirie et espace public" and row["service"] == cfg.service("voirie").name  # type: ignore[union-attr]
