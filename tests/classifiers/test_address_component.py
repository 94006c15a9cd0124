"""The `guichet_address` spaCy factory: doc extensions, gazetteer from config or initialize, saved pipelines."""

from __future__ import annotations

from pathlib import Path

import pytest
import spacy
from spacy.language import Language

import classifiers.address.component  # noqa: F401  (registers the factory)
from classifiers.address import StreetEntry
from classifiers.address.component import AddressComponent, street_entry
from tests.classifiers.test_address_support import PARIS, paris_streets

STREETS = [
    ["Rue des Pyrénées", "75020", "75120"],
    {"name": "Rue de Charenton", "postcode": "75012"},
    {"nom_voie": "Rue de Lyon", "code_postal": "75012", "code_insee": "75112"},
]
TEXT = (
    "Bonjour, depuis lundi le lampadaire en face du 72 r. des Pyrenees ne s'allume plus. "
    "Cordialement, un riverain du 47 rue de Charenton"
)


def _nlp(**config: object) -> Language:
    nlp = spacy.blank("fr")
    nlp.add_pipe("guichet_address", config=config)
    return nlp


def test_sets_the_doc_extensions() -> None:
    doc = _nlp(streets=STREETS)(TEXT)
    assert (doc._.guichet_address.voie, doc._.guichet_address.numero) == ("Rue des Pyrénées", "72")
    assert [(m.voie, m.role) for m in doc._.guichet_addresses] == [
        ("Rue des Pyrénées", "problem"),
        ("Rue de Charenton", "sender"),
    ]
    empty = _nlp(streets=STREETS)("Merci pour votre réponse.")
    assert empty._.guichet_address is None and empty._.guichet_addresses == []


def test_landmarks_postcodes_and_ignore_from_config() -> None:
    nlp = _nlp(
        streets=STREETS,
        landmarks=[["École Jean Jaurès", ["l'école"]]],
        postcodes=["75020", "75012"],
        ignore=["3 rue de Lyon"],
    )
    assert nlp("un trou devant l'école")._.guichet_address.landmark == "École Jean Jaurès"
    doc = nlp("Mairie, 3 rue de Lyon")
    assert doc._.guichet_address is None and doc._.guichet_addresses[0].role == "other"


def test_pipe_and_other_components() -> None:
    nlp = _nlp(streets=STREETS)
    nlp.add_pipe("sentencizer", first=True)
    docs = list(nlp.pipe(["au 3 rue de Lyon", "rien", "au 5 rue de Charenton"]))
    assert [d._.guichet_address and d._.guichet_address.voie for d in docs] == ["Rue de Lyon", None, "Rue de Charenton"]


def test_initialize_with_a_list_or_a_reference_file(tmp_path: Path) -> None:
    nlp = _nlp()
    nlp.initialize()
    assert nlp("au 72 rue des Pyrénées")._.guichet_address is None  # no gazetteer yet
    component = nlp.get_pipe("guichet_address")
    assert isinstance(component, AddressComponent)
    component.initialize(streets=STREETS)
    assert nlp("au 72 rue des Pyrénées")._.guichet_address.voie == "Rue des Pyrénées"
    path = next((p for p in PARIS if p.exists()), None)
    if path is None:
        pytest.skip("no BAN Paris extract")
    component.initialize(reference=str(path))
    assert len(component.streets) == len(paris_streets())
    assert nlp("au 12 rue Oberkampf")._.guichet_address.code_postal == "75011"


def test_initialize_from_the_training_config() -> None:
    nlp = _nlp()
    config = nlp.config.copy()
    config["initialize"]["components"]["guichet_address"] = {"streets": STREETS, "postcodes": ["75012"]}
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    nlp.initialize()
    assert nlp("au 3 rue de Lyon")._.guichet_address.code_postal == "75012"


def test_the_gazetteer_ships_inside_the_saved_pipeline(tmp_path: Path) -> None:
    nlp = _nlp()
    nlp.initialize()
    nlp.get_pipe("guichet_address").initialize(
        streets=STREETS, landmarks=[["Gare de Lyon", ["gare de lyon"]]], ignore=["3 rue de Lyon"]
    )
    nlp.to_disk(tmp_path / "pipeline")
    assert (tmp_path / "pipeline" / "guichet_address" / "address.json").exists()
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.pipe_names == ["guichet_address"]
    assert loaded(TEXT)._.guichet_address.voie == "Rue des Pyrénées"
    assert loaded("devant la gare de Lyon")._.guichet_address.landmark == "Gare de Lyon"
    assert loaded("Mairie, 3 rue de Lyon")._.guichet_address is None
    copy = _nlp().from_bytes(nlp.to_bytes())
    assert copy(TEXT)._.guichet_address == nlp(TEXT)._.guichet_address


def test_street_entries_from_config_values() -> None:
    assert street_entry(["Rue X", "75011", None]) == StreetEntry("Rue X", "75011", None)
    assert street_entry({"name": "Rue X"}) == StreetEntry("Rue X")
    assert street_entry("Rue X") == StreetEntry("Rue X")
    assert street_entry(StreetEntry("Rue X", "75011")) == StreetEntry("Rue X", "75011")
