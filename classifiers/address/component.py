"""spaCy component `guichet_address`: the problem's location in each doc, read with the commune's gazetteer."""

# No `from __future__ import annotations`: spaCy validates initialize()'s settings against its real annotations.
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import srsly
from spacy.language import Language
from spacy.tokens import Doc

from classifiers.address.extractor import AddressExtractor
from classifiers.address.gazetteer import StreetEntry, load_reference

_FILE = "address.json"


def street_entry(item: Any) -> StreetEntry:
    """A StreetEntry from what a config or a JSON file holds: an entry, a [name, postcode, citycode] list, a
    {"name"|"nom_voie", "postcode"|"code_postal", "citycode"|"code_insee"} mapping, or a bare name."""
    if isinstance(item, StreetEntry):
        return item
    if isinstance(item, str):
        return StreetEntry(item)
    if isinstance(item, dict):
        return StreetEntry(
            item.get("name") or item["nom_voie"],
            item.get("postcode") or item.get("code_postal"),
            item.get("citycode") or item.get("code_insee"),
        )
    name, *codes = item
    return StreetEntry(str(name), *(str(c) if c else None for c in codes[:2]))


class AddressComponent:
    """Sets doc._.guichet_address (the problem's location, an AddressMention or None) and
    doc._.guichet_addresses (every mention). Reads the raw text: it needs no token, tag or parse."""

    def __init__(
        self,
        nlp: Language,
        name: str = "guichet_address",
        *,
        streets: Sequence[Any] = (),
        landmarks: Sequence[Any] = (),
        postcodes: Sequence[str] = (),
        ignore: Sequence[str] = (),
    ) -> None:
        self.name = name
        for attr in ("guichet_address", "guichet_addresses"):
            if not Doc.has_extension(attr):
                Doc.set_extension(attr, default=None)
        self._configure([street_entry(s) for s in streets], landmarks, postcodes, ignore)

    def _configure(
        self, streets: list[StreetEntry], landmarks: Iterable[Any], postcodes: Iterable[str], ignore: Iterable[str]
    ) -> None:
        self.streets = streets
        self.landmarks = [(str(label), [str(a) for a in aliases]) for label, aliases in landmarks]
        self.postcodes = [str(p) for p in postcodes]
        self.ignore = [str(i) for i in ignore]
        self.extractor = AddressExtractor(
            self.streets, landmarks=self.landmarks, postcodes=self.postcodes, ignore=self.ignore
        )

    def __call__(self, doc: Doc) -> Doc:
        """Read the doc's text and set its two extension attributes."""
        doc._.guichet_address, doc._.guichet_addresses = self.extractor.extract(doc.text)
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Process a stream of docs, one by one (nothing is gained by batching)."""
        for doc in stream:
            yield self(doc)

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Any]] | None = None,
        *,
        nlp: Language | None = None,
        streets: Sequence[Any] | None = None,
        reference: str | None = None,
        landmarks: Sequence[Any] | None = None,
        postcodes: Sequence[str] | None = None,
        ignore: Sequence[str] | None = None,
    ) -> None:
        """Load the gazetteer: `streets` (entries, lists or mappings) and/or `reference` (a BAN or BAL file)."""
        entries = list(self.streets) if streets is None and reference is None else []
        entries += [street_entry(s) for s in streets or ()]
        entries += load_reference(reference) if reference else []
        self._configure(
            entries,
            self.landmarks if landmarks is None else landmarks,
            self.postcodes if postcodes is None else postcodes,
            self.ignore if ignore is None else ignore,
        )

    def _data(self) -> dict[str, Any]:
        return {
            "streets": [[s.name, s.postcode, s.citycode] for s in self.streets],
            "landmarks": [[label, aliases] for label, aliases in self.landmarks],
            "postcodes": self.postcodes,
            "ignore": self.ignore,
        }

    def _load(self, data: dict[str, Any]) -> None:
        self._configure(
            [street_entry(s) for s in data["streets"]],
            data.get("landmarks", ()),
            data.get("postcodes", ()),
            data.get("ignore", ()),
        )

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        """The gazetteer and options as JSON bytes."""
        text: str = srsly.json_dumps(self._data())
        return text.encode("utf-8")

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = ()) -> "AddressComponent":
        """Load what to_bytes wrote."""
        self._load(srsly.json_loads(data))
        return self

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        """Write the gazetteer and options to `path`/address.json (the street list ships in the pipeline)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / _FILE, self._data())

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "AddressComponent":
        """Load what to_disk wrote."""
        self._load(srsly.read_json(Path(path) / _FILE))
        return self


@Language.factory("guichet_address", default_config={"streets": [], "landmarks": [], "postcodes": [], "ignore": []})
def make_address_component(
    nlp: Language, name: str, streets: list[Any], landmarks: list[Any], postcodes: list[str], ignore: list[str]
) -> AddressComponent:
    """The `guichet_address` factory: streets as [name, postcode, citycode] lists or mappings, landmarks as
    [label, [aliases]], the commune's postcodes, and addresses to ignore (the town hall's)."""
    return AddressComponent(nlp, name, streets=streets, landmarks=landmarks, postcodes=postcodes, ignore=ignore)
