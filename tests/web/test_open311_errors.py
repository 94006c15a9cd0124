"""Every bad input gets the spec's error, in the format asked (JSON or XML), with a French/English text; never a 500."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.support.mail import jpeg_with_gps
from tests.web import test_open311 as base
from tests.web.test_open311 import API, KEY, assert_error, post, request_fields

res, client = base.res, base.client  # the fixtures, shared with the main Open311 tests


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("fields", "code", "word"),
    [
        ({"api_key": None}, 403, "api_key"),
        ({"api_key": "mauvaise"}, 403, "api_key"),
        ({"service_code": "inconnu"}, 400, "service_code"),
        ({"service_code": None}, 400, "service_code"),
        ({"lat": "91"}, 400, "lat"),
        ({"long": "-181"}, 400, "long"),
        ({"lat": "nan"}, 400, "lat"),
        ({"lat": "inf"}, 400, "lat"),
        ({"lat": "abc"}, 400, "lat"),
        ({"long": None}, 400, "long"),
        ({"lat": None}, 400, "long"),
        ({"lat": None, "long": None}, 400, "localisation"),
        ({"description": "x" * 201}, 400, "description"),
        ({"email": "pas une adresse"}, 400, "email"),
        ({"media_url": "file:///etc/passwd"}, 400, "media_url"),
        ({"address_string": "x" * 501, "lat": None, "long": None}, 400, "address_string"),
        ({"media": (b"\xff\xd8\xff" + b"x" * 200_000, "grosse.jpg", "image/jpeg")}, 413, "photo"),
        ({"media": (b"MZ", "virus.exe", "application/x-msdownload")}, 400, "type"),
        ({"media": (b"MZ\x90\x00" * 10, "photo.jpg", "image/jpeg")}, 400, "type"),
    ],
)
def test_post_errors(client: FlaskClient, fmt: str, fields: dict[str, Any], code: int, word: str) -> None:
    if "media" in fields:  # a fresh stream for each format
        data, name, kind = fields["media"]
        fields = {"media": (io.BytesIO(data), name, kind)}
    answer = post(client, fmt, **fields)
    assert answer.mimetype == f"application/{fmt}"
    assert word in assert_error(answer, code)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_read_errors(client: FlaskClient, fmt: str) -> None:
    assert_error(client.get(f"{API}/requests/2024-99999.{fmt}"), 404)
    assert_error(client.get(f"{API}/tokens/inconnu.{fmt}"), 404)
    assert "status" in assert_error(client.get(f"{API}/requests.{fmt}?status=maybe"), 400)
    assert "start_date" in assert_error(client.get(f"{API}/requests.{fmt}?start_date=hier"), 400)
    assert "end_date" in assert_error(client.get(f"{API}/requests.{fmt}?end_date=2024-13-45"), 400)
    assert "start_date" in assert_error(client.get(f"{API}/requests.{fmt}?start_date=0001-01-01T00:00:00%2B14:00"), 400)
    assert "end_date" in assert_error(client.get(f"{API}/requests.{fmt}?end_date=9999-12-31"), 400)
    assert "90" in assert_error(
        client.get(f"{API}/requests.{fmt}?start_date=2024-01-01T00:00:00Z&end_date=2024-06-01T00:00:00Z"), 400
    )
    assert "end_date" in assert_error(
        client.get(f"{API}/requests.{fmt}?start_date=2024-02-01T00:00:00Z&end_date=2024-01-01T00:00:00Z"), 400
    )
    assert "service_code" in assert_error(client.get(f"{API}/requests.{fmt}?service_code=inconnu"), 400)
    assert "méthode" in assert_error(client.delete(f"{API}/requests.{fmt}"), 405)
    assert "ressource" in assert_error(client.get(f"{API}/nimporte/quoi.{fmt}"), 404)


def test_unknown_format_and_missing_suffix(client: FlaskClient) -> None:
    for response in (
        client.get(f"{API}/services.csv"),
        client.get(f"{API}/requests.html"),
        client.get(f"{API}/tokens/abc.yaml"),
        client.post(f"{API}/requests.php", data={"api_key": KEY}),
    ):
        assert response.mimetype == "application/json"
        assert "format" in assert_error(response, 400)
    assert "suffixe" in assert_error(client.get(f"{API}/services"), 404)


def test_bad_bodies(client: FlaskClient) -> None:
    assert "JSON" in assert_error(client.post(f"{API}/requests.json", data="[1]", content_type="application/json"), 400)
    assert "JSON" in assert_error(
        client.post(f"{API}/requests.xml", data="{pas du json", content_type="application/json"), 400
    )
    nested = client.post(f"{API}/requests.json", json={**request_fields(), "description": {"a": 1}})
    assert "description" in assert_error(nested, 400)
    truncated = (
        b'--XyZ\r\nContent-Disposition: form-data; name="api_key"\r\n\r\n'
        + KEY.encode()
        + b'\r\n--XyZ\r\nContent-Disposition: form-data; name="media"; filename="a.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0 tronqu"
    )
    for content_type in ("multipart/form-data; boundary=XyZ", "multipart/form-data"):
        answer = client.post(f"{API}/requests.xml", data=truncated, content_type=content_type)
        assert "multipart" in assert_error(answer, 400)
    huge = client.post(f"{API}/requests.json", data=b"x" * 500_000, content_type="application/x-www-form-urlencoded")
    assert "volumineuse" in assert_error(huge, 413)


def test_json_body_is_accepted_like_a_form(client: FlaskClient) -> None:
    answer = client.post(f"{API}/requests.json", json={**request_fields(), "lat": 48.857876, "long": 2.347579})
    assert answer.status_code == 201 and answer.get_json()[0]["token"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_duplicate_submission(client: FlaskClient, fmt: str) -> None:
    photo = jpeg_with_gps(48.8566, 2.3522)
    first = post(client, "json", media=(io.BytesIO(photo), "p.jpg", "image/jpeg"))
    assert first.status_code == 201
    token = first.get_json()[0]["token"]
    again = post(client, fmt, media=(io.BytesIO(photo), "p.jpg", "image/jpeg"))
    assert token in assert_error(again, 409)
    # another photo, or another description, is another request
    other = post(client, fmt, media=(io.BytesIO(jpeg_with_gps(48.86, 2.35)), "p.jpg", "image/jpeg"))
    assert other.status_code == 201
    assert post(client, fmt, description="Deux lampadaires éteints").status_code == 201
