"""config.yaml documents the schema: every key of intake/config.py is in the shipped file, with a comment."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from intake.config import Config, Secret
from tests.conftest import ROOT

TEXT = (ROOT / "config.yaml").read_text(encoding="utf-8")
# Set by the loader (the config file's folder), not by the town: writing it in config.yaml would break relative paths.
INTERNAL = {"base_dir"}


def _shape(annotation: Any) -> tuple[str, type[BaseModel] | None]:
    """("model" | "list" | "dict" | "leaf", the model inside): what a field holds, seen through Optional/Annotated."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return ("leaf", None) if annotation is Secret else ("model", annotation)
    if origin is typing.Annotated:
        return _shape(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                return _shape(arg)
    if origin in (list, dict):
        kind, model = _shape(typing.get_args(annotation)[-1])
        if kind == "model":
            return ("list" if origin is list else "dict"), model
    return "leaf", None


def schema_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every key the schema accepts: "mailboxes[].host", "hotspots.categories{}.days"…"""
    paths = set()
    for name, info in model.model_fields.items():
        if not prefix and name in INTERNAL:
            continue
        path = f"{prefix}{name}"
        paths.add(path)
        kind, sub = _shape(info.annotation)
        if sub is not None:
            paths |= schema_paths(sub, path + {"model": ".", "list": "[].", "dict": "{}."}[kind])
    return paths


@dataclass
class Found:
    """Keys present in the file (entries of lists and mappings pooled), and keys without a comment."""

    lines: list[str]
    present: set[str] = field(default_factory=set)
    undocumented: list[str] = field(default_factory=list)
    bad_examples: list[str] = field(default_factory=list)


def _commented(lines: list[str], key: yaml.Node, *, inherited: bool) -> bool:
    after = lines[key.start_mark.line][key.end_mark.column :]
    above = lines[key.start_mark.line - 1].strip() if key.start_mark.line else ""
    return inherited or " #" in after or above.startswith("#")


def _examples(lines: list[str], key: yaml.Node, value: yaml.Node, kind: str) -> list[Any]:
    """Entries written as comments inside or right after a list/mapping (an empty `api_keys: []`, say)."""
    entries: list[Any] = []
    index = key.start_mark.line + 1
    while index < len(lines) and (index <= value.end_mark.line or lines[index].lstrip().startswith("#")):
        text = lines[index].strip()
        index += 1
        if not text.startswith("#"):
            continue
        try:
            parsed = yaml.safe_load(text.lstrip("#"))
        except yaml.YAMLError:
            continue
        if kind == "list" and isinstance(parsed, list) and all(isinstance(e, dict) for e in parsed):
            entries += parsed
        elif kind == "dict" and isinstance(parsed, dict) and all(isinstance(e, dict) for e in parsed.values()):
            entries += parsed.values()
    return entries


def walk(model: type[BaseModel], node: yaml.Node, prefix: str, found: Found, *, inherited: bool = False) -> None:
    """Record the keys of `node` (a mapping read as `model`) and those of what they hold."""
    assert isinstance(node, yaml.MappingNode), f"{prefix or 'config.yaml'}: a mapping is expected"
    for key, value in node.value:
        name = key.value
        if not prefix and name in INTERNAL or name not in model.model_fields:
            continue  # unknown keys are the loader's business (it refuses them)
        path = f"{prefix}{name}"
        found.present.add(path)
        if not _commented(found.lines, key, inherited=inherited):
            found.undocumented.append(f"line {key.start_mark.line + 1}: {path}")
        kind, sub = _shape(model.model_fields[name].annotation)
        # Entries of a list or mapping are described by the comment of the key holding them.
        flow = inherited or getattr(value, "flow_style", False)
        if kind == "model" and sub is not None and isinstance(value, yaml.MappingNode):
            walk(sub, value, path + ".", found, inherited=flow)
        elif kind in ("list", "dict") and sub is not None:
            items = value.value if kind == "list" else [v for _, v in value.value]
            for item in items if isinstance(items, list) else []:
                if isinstance(item, yaml.MappingNode):  # a one-line entry is described by the comment above it
                    walk(
                        sub,
                        item,
                        path + ("[]." if kind == "list" else "{}."),
                        found,
                        inherited=flow or bool(item.flow_style),
                    )
            for example in _examples(found.lines, key, value, kind):
                try:
                    sub.model_validate(example)
                except Exception as exc:  # a commented example must be a valid entry
                    found.bad_examples.append(f"{path}: {example!r}: {exc}")
                    continue
                found.present |= {path + ("[]." if kind == "list" else "{}.") + k for k in _flat(sub, example)}


def _flat(model: type[BaseModel], entry: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for name, value in entry.items():
        keys.add(prefix + name)
        kind, sub = _shape(model.model_fields[name].annotation) if name in model.model_fields else ("leaf", None)
        if kind == "model" and sub is not None and isinstance(value, dict):
            keys |= _flat(sub, value, prefix + name + ".")
    return keys


def check(text: str) -> Found:
    """Walk a config.yaml text along the schema."""
    result = Found(text.splitlines())
    walk(Config, yaml.compose(text), "", result)
    return result


@pytest.fixture(scope="module")
def found() -> Found:
    return check(TEXT)


def test_every_schema_key_is_in_the_shipped_file(found: Found) -> None:
    assert sorted(schema_paths(Config) - found.present) == []


def test_every_key_of_the_file_has_a_comment(found: Found) -> None:
    assert found.undocumented == []


def test_commented_examples_are_valid_entries(found: Found) -> None:
    assert found.bad_examples == []


def test_the_walk_sees_what_it_checks() -> None:
    """The checks above can fail: a key removed from the file, or its comment, is reported."""
    without = TEXT.replace("    ca_file: null                 # PEM file", "    # ca_file: null  # PEM file")
    assert without != TEXT
    assert schema_paths(Config) - check(without).present == {"mailboxes[].ca_file"}
    bare = "\n".join(
        line.split("  #")[0].rstrip() if line.lstrip().startswith("idle:") else line for line in TEXT.splitlines()
    )
    assert check(bare).undocumented == [f"line {bare.splitlines().index('    idle: true') + 1}: mailboxes[].idle"]
    wrong = TEXT.replace('#  - {name: "appli-ville", key:', '#  - {nom: "appli-ville", key:')
    assert wrong != TEXT and check(wrong).bad_examples[0].startswith("open311.api_keys: {'nom'")
