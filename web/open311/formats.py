"""Open311 answers in JSON or XML (the spec's element names), and its error format in both."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from flask import Response, request

FORMATS = ("json", "xml")
# Plural element of each list the spec nests, with the name of one item (services > service, errors > error...).
ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
}
# Characters XML 1.0 cannot carry at all, even escaped: citizens' text may hold them (pasted control codes).
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Fail(Exception):
    """An answer in Open311's error format: [{"code": …, "description": …}] or <errors><error>…."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


def check_format(fmt: str) -> str:
    """The format asked by the URL's suffix; any other suffix is a standard 400 error (answered in JSON)."""
    if fmt not in FORMATS:
        raise Fail(
            400,
            f"format non pris en charge : .{fmt[:10]} (utilisez .json ou .xml) / unsupported format, use .json or .xml",
        )
    return fmt


def asked_format() -> str:
    """The format of the current request's path, for errors raised before or outside a view: XML or JSON."""
    return "xml" if request.path.lower().endswith(".xml") else "json"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return _NOT_XML.sub("", str(value))


def _fill(parent: ET.Element, name: str, value: Any) -> None:
    element = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for key, item in value.items():
            _fill(element, key, item)
    elif isinstance(value, list):
        for item in value:
            _fill(element, ITEMS[name], item)
    elif value is not None:
        element.text = _text(value)


def to_xml(root: str, value: dict[str, Any] | list[Any]) -> bytes:
    """`value` as an XML document under `root`, UTF-8, every text escaped by ElementTree."""
    top = ET.Element(root)
    if isinstance(value, list):
        for item in value:
            _fill(top, ITEMS[root], item)
    else:
        for key, item in value.items():
            _fill(top, key, item)
    xml: bytes = ET.tostring(top, encoding="utf-8", xml_declaration=True)
    return xml


def render(value: dict[str, Any] | list[Any], fmt: str, *, root: str, status: int = 200) -> Response:
    """The answer in the asked format; `root` names the XML document element (services, service_requests...)."""
    if fmt == "xml":
        return Response(to_xml(root, value), status=status, content_type="application/xml; charset=utf-8")
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Response(body.encode("utf-8"), status=status, content_type="application/json; charset=utf-8")


def error(code: int, description: str, fmt: str | None = None) -> Response:
    """The spec's error answer, with `code` both as HTTP status and in the body."""
    chosen = fmt if fmt in FORMATS else asked_format()
    return render([{"code": code, "description": description}], chosen, root="errors", status=code)
