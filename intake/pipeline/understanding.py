"""Understanding a message: category (spaCy model), the problem's address (gazetteer) and its position."""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from classifiers.text import normalize_street
from intake.config import Config
from intake.geocoding.protocol import AddressQuery, GeocodeResult
from intake.geocoding.spatial import distance_m

log = logging.getLogger(__name__)
# Address extractors by the geocoder whose streets they were built from (dropped with it), with their settings.
_EXTRACTORS: weakref.WeakKeyDictionary[Any, tuple[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Location:
    """Where the problem is, and how we know."""

    lat: float
    lon: float
    source: str  # exif | text | pin
    score: float
    label: str | None = None
    result: GeocodeResult | None = None
    mention: Any = None


@dataclass(frozen=True)
class Analysis:
    """What the models say about one message."""

    category: str
    confidence: float
    scores: dict[str, float]
    mention: Any  # classifiers.address AddressMention | None
    geocoded: GeocodeResult | None


class Understanding:
    """The category model, the address extractor and the geocoder of one town, loaded once per process."""

    def __init__(self, config: Config, *, model: Any, extractor: Any, geocoder: Any, local: Any) -> None:
        self.config = config
        self.model = model
        self.extractor = extractor
        self.geocoder = geocoder
        self.local = local  # the embedded geocoder, also used for "is this point in the commune?"

    @classmethod
    def build(cls, config: Config, *, factory: sessionmaker[Session] | None = None) -> Understanding:
        """Load everything; the address reference comes from the database, else from the configured files."""
        from classifiers.address import AddressExtractor, StreetEntry
        from classifiers.category.model import DEFAULT_MODEL_DIR, CategoryModel
        from intake.geocoding.loader import load_local_geocoder

        model_dir = config.resolve_path(config.classifier.model) if config.classifier.model else DEFAULT_MODEL_DIR
        model = CategoryModel.load(Path(model_dir))
        files = [config.resolve_path(p) for p in config.addresses.reference]
        local = load_local_geocoder(factory, files=files, citycodes=set(config.town.insee_codes))
        landmarks = [(lm.name, [lm.name, *lm.aliases]) for lm in config.addresses.landmarks]
        settings = (repr(landmarks), tuple(config.town.postcodes), tuple(config.addresses.ignore))
        # The gazetteer is built once per loaded reference and settings (~0.3 s): a process whose reference is
        # unchanged (the file-read one is memoised by the loader) reuses it.
        cached = _EXTRACTORS.get(local)
        if cached is not None and cached[0] == settings:
            extractor = cached[1]
        else:
            streets = [StreetEntry(name=s.name, postcode=s.postcode, citycode=s.citycode) for s in local.streets()]
            extractor = AddressExtractor(
                streets, landmarks=landmarks, postcodes=config.town.postcodes, ignore=config.addresses.ignore
            )
            _EXTRACTORS[local] = (settings, extractor)
        geocoder: Any = local
        if config.addresses.geocoder == "addok":
            from intake.geocoding.addok import AddokGeocoder

            geocoder = AddokGeocoder(config.addresses.addok_url or "", citycodes=tuple(config.town.insee_codes))
        return cls(config, model=model, extractor=extractor, geocoder=geocoder, local=local)

    def warm(self) -> None:
        """Build what is otherwise built on first use (the embedded reference's indexes), before a fork."""
        if self.local is not None and hasattr(self.local, "warm"):
            self.local.warm()

    def classify(self, subject: str, text: str) -> Any:
        """The calibrated category prediction."""
        return self.model.predict(subject, text)

    def _landmark(self, mention: Any) -> GeocodeResult | None:
        for lm in self.config.addresses.landmarks:
            if mention.landmark == lm.name:
                return GeocodeResult(label=lm.name, score=0.8, type="poi", lon=lm.lon, lat=lm.lat)
        return None

    def locate_text(self, subject: str, text: str) -> tuple[Any, GeocodeResult | None]:
        """The problem's address mentioned in the text and its geocoded position (or None)."""
        mention = self.extractor.best(f"{subject}\n{text}" if subject else text)
        if mention is None:
            return None, None
        if mention.kind == "landmark":
            return mention, self._landmark(mention)
        query = AddressQuery(
            voie=mention.voie,
            numero=mention.numero,
            rep=mention.rep,
            code_postal=mention.code_postal,
            second_voie=mention.second_voie,
        )
        try:
            result = self.geocoder.geocode(query)
        except Exception as exc:  # an unreachable addok must not lose the message: no position, agent decides
            log.warning("geocoding failed: %s", exc)
            return mention, None
        if result is None or result.score < self.config.addresses.min_score:
            return mention, None
        return mention, self._refine(query, result)

    def _refine(self, query: AddressQuery, result: GeocodeResult) -> GeocodeResult:
        """A remote geocoder's estimate (a missing number, a crossing) placed by the embedded reference when it
        knows the same street: between the neighbouring numbers, at the streets' crossing, with its uncertainty."""
        if not result.estimated or self.geocoder is self.local or self.local is None:
            return result
        local = self.local.geocode(query)
        if (
            local is None
            or not local.estimated
            or local.uncertainty_m is None
            or (local.type == "intersection") != (result.type == "intersection")
            or local.citycode != result.citycode
            or normalize_street(local.street or "") != normalize_street(result.street or "")
        ):
            return result
        return replace(
            result,
            lon=local.lon,
            lat=local.lat,
            uncertainty_m=local.uncertainty_m,
            details={
                **result.details,
                "estimate": local.details.get("estimate", "croisement"),
                "estimated_by": "référence embarquée",
            },
        )

    def in_commune(self, lat: float, lon: float) -> bool:
        """Whether a point (a photo's GPS) lies in the commune, with the configured margin."""
        return bool(self.local.inside_commune(lat, lon, margin_m=self.config.addresses.exif_margin_m))

    def analyze(self, subject: str, text: str) -> Analysis:
        """Category and position of one message (the `guichet analyze` contract)."""
        pred = self.classify(subject, text)
        mention, geocoded = self.locate_text(subject, text)
        return Analysis(pred.category, pred.confidence, pred.scores, mention, geocoded)

    def choose_location(
        self, *, exif: list[tuple[float, float]], text_result: GeocodeResult | None, mention: Any
    ) -> Location | None:
        """A photo's GPS inside the commune wins over the text; else the text's geocoded address."""
        for lat, lon in exif:
            if self.in_commune(lat, lon):
                label = None
                if text_result is not None and distance_m(lat, lon, text_result.lat, text_result.lon) < 150:
                    label = text_result.label
                return Location(lat, lon, "exif", 0.95, label=label, result=text_result, mention=mention)
        if text_result is not None:
            return Location(
                text_result.lat,
                text_result.lon,
                "text",
                text_result.score,
                label=text_result.label,
                result=text_result,
                mention=mention,
            )
        return None
