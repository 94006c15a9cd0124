"""Whose address is it: the problem's, the sender's own, or the town hall's and forwarded headers'."""

from __future__ import annotations

import pytest

from classifiers.address import AddressExtractor, AddressMention
from tests.classifiers.test_address_support import paris_extractor


@pytest.fixture(scope="session")
def paris() -> AddressExtractor:
    return paris_extractor()


def roles(extractor: AddressExtractor, text: str) -> list[tuple[str | None, str | None, str]]:
    return [(m.voie, m.numero, m.role) for m in extractor.mentions(text)]


def best(extractor: AddressExtractor, text: str) -> AddressMention:
    found = extractor.best(text)
    assert found is not None, text
    return found


@pytest.mark.parametrize(
    "text",
    [
        "Cordialement, un riverain du 47 rue de Charenton",
        "J'habite 3 rue de Lyon, pouvez-vous me dire quand passent les encombrants ?",
        "j habite au 3 rue de Lyon",
        "Bonjour, mon adresse : 3 rue de Lyon. Merci de me rappeler.",
        "Nous venons d'emménager au 3 rue de Lyon et souhaitons inscrire notre fille en maternelle.",
        "Bonjour c est madame Ruiz du 3 rue de Lyon, je voulais savoir si mon dossier a ete recu",
        "Domicilié 3 rue de Lyon, je souhaite une copie de mon acte de naissance.",
    ],
)
def test_the_sender_s_own_address_is_not_the_problem_s(paris: AddressExtractor, text: str) -> None:
    assert [role for _, _, role in roles(paris, text)] == ["sender"]
    assert paris.best(text) is None


def test_the_problem_beside_the_sender_s_address(paris: AddressExtractor) -> None:
    text = "J'habite au 3 rue de Lyon et le trottoir est défoncé devant le 20 rue de Charenton."
    assert roles(paris, text) == [("Rue de Lyon", "3", "sender"), ("Rue de Charenton", "20", "problem")]
    assert best(paris, text).voie == "Rue de Charenton"


def test_signature_block_after_a_closing_formula(paris: AddressExtractor) -> None:
    text = (
        "Bonjour,\nun trou s'est formé devant le 8 rue Oberkampf.\nMerci d'avance,\n\nCordialement,\n"
        "Marie Dupont\n14 rue de la Roquette\n75011 Paris\nTél. 01 23 45 67 89"
    )
    assert roles(paris, text) == [("Rue Oberkampf", "8", "problem"), ("Rue de la Roquette", "14", "sender")]
    assert best(paris, text).voie == "Rue Oberkampf"


def test_letterhead_without_closing_formula(paris: AddressExtractor) -> None:
    text = "Bonjour,\nun trou devant le 8 rue Oberkampf.\nMarie Dupont\n14 rue de la Roquette, 75011 Paris"
    assert roles(paris, text) == [("Rue Oberkampf", "8", "problem"), ("Rue de la Roquette", "14", "sender")]


def test_an_address_alone_on_its_line_is_kept_when_it_is_the_only_place(paris: AddressExtractor) -> None:
    found = best(paris, "Poubelle renversée\n14 rue de la Roquette\n75011 Paris")
    assert (found.voie, found.role) == ("Rue de la Roquette", "problem")
    assert found.score < 0.9  # but less surely


def test_a_closing_formula_in_the_middle_does_not_hide_the_quoted_report(paris: AddressExtractor) -> None:
    text = (
        "Je me permets de relancer.\nCordialement,\nHélène Marchal\n\n"
        "Le lun. 6 mai 2024 à 09:12, Hélène Marchal <helene@example.org> a écrit :\n"
        "> Le feu tricolore situé devant le 19 rue Joseph de Maistre est tourné vers le trottoir."
    )
    assert (best(paris, text).voie, best(paris, text).numero) == ("Rue Joseph de Maistre", "19")


def test_devant_chez_moi_makes_the_sender_s_address_the_problem_s(paris: AddressExtractor) -> None:
    text = "Bonjour, j'habite au 3 rue de Lyon et le lampadaire devant chez moi est cassé."
    found = best(paris, text)
    assert (found.voie, found.numero, found.role, found.score) == ("Rue de Lyon", "3", "problem", 0.4)


def test_the_town_hall_s_address_is_ignored(paris: AddressExtractor) -> None:
    text = "Pour traitement.\nAccueil de la mairie du 11e, 12 place Léon Blum"
    assert roles(paris, text) == [("Place Léon Blum", "12", "other")]
    assert paris.best(text) is None
    assert best(paris, "Un banc cassé au 5 place Léon Blum").role == "problem"  # another number of that square


def test_forwarded_mail_headers(paris: AddressExtractor) -> None:
    text = (
        "Pour traitement svp.\nNadia – accueil\n\n-----Message d'origine-----\n"
        "De : Gérard Vasseur <g.vasseur@example.org>\nEnvoyé : mardi 16 janvier 2024 08:47\n"
        "À : Mairie du 12e, 3 rue de Lyon\nObjet : panneau tombé rue de Charenton\n\n"
        "Bonjour\nle panneau qui était devant le 45 rue Oberkampf a disparu.\nG. Vasseur"
    )
    assert roles(paris, text) == [
        ("Rue de Lyon", "3", "other"),
        ("Rue de Charenton", None, "problem"),
        ("Rue Oberkampf", "45", "problem"),
    ]
    assert best(paris, text).voie == "Rue Oberkampf"


def test_the_forwarding_clerk_s_letterhead(paris: AddressExtractor) -> None:
    text = (
        "TR: affaires abandonnées\nÀ transmettre, merci.\nAccueil Mairie du 11e – 12 rue de Lyon, 75012 Paris\n\n"
        "De : Gisèle Barré <gisele@example.org>\nObjet : affaires abandonnées\n\n"
        "Devant l'entrée du cimetière, un matelas a été laissé contre le mur."
    )
    assert roles(paris, text) == [("Rue de Lyon", "12", "sender")]
    assert paris.best(text) is None
