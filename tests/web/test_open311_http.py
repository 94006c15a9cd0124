"""Open311 over a real HTTP server on loopback, posted with `requests` the way a citizens' app does."""

from __future__ import annotations

import io
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from PIL import Image
from sqlalchemy import select

from intake.media import read_image_info
from intake.models import Attachment
from intake.runtime.resources import Resources
from tests.conftest import free_port
from tests.support.mail import jpeg_with_gps
from tests.web import test_open311 as base
from tests.web.test_open311 import KEY, process
from web import create_app

res = base.res  # the fixture, shared with the main Open311 tests
APP_FIELDS = {
    "api_key": KEY,
    "jurisdiction_id": "75056",
    "service_code": "objets_abandonnes",
    "description": "Un matelas abandonné sur le trottoir",
    "first_name": "Paul",
    "last_name": "Durand",
    "email": "paul.durand@example.net",
    "device_id": "c0ffee-42",
    "address_string": "12 avenue Victoria",
}


@dataclass
class Live:
    url: str
    res: Resources


@pytest.fixture
def live(res: Resources) -> Iterator[Live]:
    """The app in a real threaded WSGI server on 127.0.0.1."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", free_port(), create_app(res.config, resources=res), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="open311-live", daemon=True)
    thread.start()
    try:
        yield Live(url=f"http://127.0.0.1:{server.server_port}/open311/v2", res=res)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_app_posts_multipart_photo_and_reads_it_back(live: Live) -> None:
    photo = jpeg_with_gps(48.857876, 2.347579)
    with requests.Session() as http:
        answer = http.post(
            f"{live.url}/requests.json",
            data=APP_FIELDS,
            timeout=10,
            files={"media": ("IMG_2041.jpg", photo, "image/jpeg")},
        )
        assert answer.status_code == 201, answer.text
        assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
        token = answer.json()[0]["token"]
        assert http.get(f"{live.url}/tokens/{token}.json", timeout=10).json() == [{"token": token}]

        report = process(live.res, token)
        assert report.category == "objets_abandonnes" and report.category_source == "app"
        assert report.location_source == "exif"  # the photo's GPS, inside the commune, wins over the text
        assert report.lat == pytest.approx(48.857876, abs=1e-4) and report.lon == pytest.approx(2.347579, abs=1e-4)
        with live.res.factory() as s:
            att = s.execute(select(Attachment).where(Attachment.report_id == report.id)).scalar_one()
        assert att.filename == "IMG_2041.jpg" and att.is_image and att.served_sha256
        assert att.gps_lat == pytest.approx(48.857876, abs=1e-4) and att.gps_lon == pytest.approx(2.347579, abs=1e-4)
        assert live.res.file_store.read(att.sha256) == photo  # the original, kept for the agents

        assert (
            http.get(f"{live.url}/tokens/{token}.json", timeout=10).json()[0]["service_request_id"] == report.public_id
        )
        shown = http.get(f"{live.url}/requests/{report.public_id}.json", timeout=10)
        assert shown.headers["Access-Control-Allow-Origin"] == "*"
        assert "Durand" not in shown.text and "paul" not in shown.text.lower() and "c0ffee" not in shown.text
        item = shown.json()[0]
        public_url = live.res.config.town.public_url
        assert item["media_url"].startswith(f"{public_url}/open311/v2/media/")

        # The photo as the public sees it: the served copy, without EXIF or GPS, never the original bytes.
        media_path = item["media_url"].removeprefix(f"{public_url}/open311/v2")
        served = http.get(f"{live.url}{media_path}", timeout=10)
        assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"
        assert served.content != photo and served.content == live.res.file_store.read(att.served_sha256)
        info = read_image_info(served.content)
        assert info is not None and info.gps is None
        assert "exif" not in Image.open(io.BytesIO(served.content)).info
        tampered = http.get(f"{live.url}{media_path[:-1]}{'0' if media_path[-1] != '0' else '1'}", timeout=10)
        assert tampered.status_code == 404 and tampered.json()[0]["code"] == 404
        guessed = http.get(f"{live.url}/open311/v2/media/{att.id}", timeout=10)
        assert guessed.status_code == 404


def test_app_posts_in_xml_and_gets_xml(live: Live) -> None:
    fields = {**APP_FIELDS, "lat": "48.8606", "long": "2.3376", "address_string": ""}
    answer = requests.post(
        f"{live.url}/requests.xml", data=fields, timeout=10, files={"media": ("photo.png", _png(), "image/png")}
    )
    assert answer.status_code == 201 and answer.headers["Content-Type"] == "application/xml; charset=utf-8"
    token = ET.fromstring(answer.content).findtext("request/token")
    assert token
    report = process(live.res, token)
    assert report.location_source == "pin" and report.lat == pytest.approx(48.8606)
    listed = ET.fromstring(requests.get(f"{live.url}/requests.xml", timeout=10).content)
    assert [r.findtext("service_request_id") for r in listed] == [report.public_id]
    assert listed.findtext("request/lat") == "48.8606" and listed.findtext("request/status") == "open"


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (20, 120, 20)).save(buf, "PNG")
    return buf.getvalue()


def test_bad_posts_over_http_get_standard_errors(live: Live) -> None:
    huge = b"\xff\xd8\xff" + bytes(8_000_000)
    answer = requests.post(f"{live.url}/requests.xml", data=APP_FIELDS, files={"media": ("big.jpg", huge)}, timeout=10)
    assert answer.status_code == 413
    root = ET.fromstring(answer.content)
    assert root.findtext("error/code") == "413" and "volumineuse" in (root.findtext("error/description") or "")
    broken = requests.post(
        f"{live.url}/requests.json",
        timeout=10,
        data=b'--b\r\nContent-Disposition: form-data; name="api_key"\r\n\r\nabc',
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert broken.status_code == 400 and "multipart" in broken.json()[0]["description"]
    missing = requests.post(f"{live.url}/requests.json", data={**APP_FIELDS, "api_key": ""}, timeout=10)
    assert missing.status_code == 403 and "api_key" in missing.json()[0]["description"]
    first = requests.post(f"{live.url}/requests.json", data=APP_FIELDS, timeout=10)
    again = requests.post(f"{live.url}/requests.json", data=APP_FIELDS, timeout=10)
    assert first.status_code == 201 and again.status_code == 409
    assert first.json()[0]["token"] in again.json()[0]["description"]
