"""AddressExtractor on the real Paris gazetteer: numbers, spellings, typos, postcodes, intersections, landmarks."""

from __future__ import annotations

import pytest

from classifiers.address import AddressExtractor, AddressMention, StreetEntry
from tests.classifiers.test_address_support import paris_extractor


@pytest.fixture(scope="session")
def paris() -> AddressExtractor:
    return paris_extractor()


def best(extractor: AddressExtractor, text: str) -> AddressMention:
    found = extractor.best(text)
    assert found is not None, text
    return found


def test_the_issue_example(paris: AddressExtractor) -> None:
    text = (
        "Bonjour, depuis lundi le lampadaire en face du 72 r. des Pyrenees ne s'allume plus, on ne voit rien "
        "le soir. Cordialement, un riverain du 47 rue de Charenton"
    )
    problem, sender = paris.mentions(text)
    assert (problem.kind, problem.voie, problem.numero, problem.rep) == ("address", "Rue des Pyrénées", "72", None)
    assert problem.code_postal == "75020"  # the only postcode of 72 (and of every number) Rue des Pyrénées
    assert problem.role == "problem" and text[problem.start : problem.end] == "72 r. des Pyrenees"
    assert (sender.voie, sender.numero, sender.code_postal, sender.role) == (
        "Rue de Charenton",
        "47",
        "75012",
        "sender",
    )
    assert sender.score < 0.2 < problem.score
    assert paris.best(text) == problem


@pytest.mark.parametrize(
    ("text", "numero", "rep"),
    [
        ("Trou au 12 rue de la Roquette", "12", None),
        ("Trou au 12bis rue de la Roquette", "12", "bis"),
        ("Trou au 12 bis rue de la Roquette", "12", "bis"),
        ("Trou au 12 b rue de la Roquette", "12", "bis"),
        ("Trou au 12ter, rue de la Roquette", "12", "ter"),
        ("Trou au n°12 rue de la Roquette", "12", None),
        ("Trou au numéro 12 de la rue de la Roquette", "12", None),
        ("Trou en face du 12 rue de la Roquette", "12", None),
        ("Trou au niveau du 12 rue de la Roquette", "12", None),
        ("Trou devant le 8 rue de la Roquette", "8", None),
        ("Trou devant le 10-12 rue de la Roquette", "10", None),
        ("Trou rue de la Roquette n°12", "12", None),
        ("Trou rue de la roquette 12", "12", None),
        ("La rue de la Roquette est défoncée, surtout devant le 9, depuis des semaines.", "9", None),
    ],
)
def test_house_number_forms(paris: AddressExtractor, text: str, numero: str, rep: str | None) -> None:
    found = best(paris, text)
    assert (found.kind, found.voie, found.numero, found.rep, found.code_postal) == (
        "address",
        "Rue de la Roquette",
        numero,
        rep,
        "75011",
    )


@pytest.mark.parametrize(
    ("text", "voie"),
    [
        ("au 3 r. de Lyon", "Rue de Lyon"),
        ("au 3 r de lyon", "Rue de Lyon"),
        ("au 20 bd Voltaire", "Boulevard Voltaire"),
        ("au 20 bld voltaire", "Boulevard Voltaire"),
        ("au 76 av. Parmentier", "Avenue Parmentier"),
        ("au 5 pl. Léon Blum", "Place Léon Blum"),
        ("au 3 imp. Daunay", "Impasse Daunay"),
        ("dans l'all. Vivaldi", "Allée Vivaldi"),
        ("dans le sq. St Irénée", "Square Saint-Irénée"),
        ("au 8 fg St Antoine", "Rue du Faubourg Saint-Antoine"),
        ("au 86 B bd de l'Hopital", "Boulevard de l'Hôpital"),
        ("au 26 rue du Dr Germain See", "Rue du Docteur Germain See"),
    ],
)
def test_abbreviations(paris: AddressExtractor, text: str, voie: str) -> None:
    assert best(paris, text).voie == voie


@pytest.mark.parametrize(
    ("text", "voie"),
    [
        ("TROTTOIR DEFONCE 12 RUE DES PYRENEES", "Rue des Pyrénées"),
        ("poubelle renversee devant le 8 faubourg st antoine", "Rue du Faubourg Saint-Antoine"),
        ("fuite au 3 rue de l hopital saint louis", "Rue de l'Hôpital Saint-Louis"),
        ("verre casse au 45 r de laqueduc", "Rue de l'Aqueduc"),  # the apostrophe dropped, the words glued
        ("lampadaire eteint av de la motte picquet", "Avenue de la Motte-Picquet"),
        ("cartons devant le 6 rue du Quatre-Septembre", "Rue du 4 septembre"),
        ("tags au 3 impasse des boeufs", "Impasse des Bœufs"),
    ],
)
def test_case_accents_hyphens_and_spellings(paris: AddressExtractor, text: str, voie: str) -> None:
    assert best(paris, text).voie == voie


@pytest.mark.parametrize(
    ("text", "voie", "edits"),
    [
        ("trou au 12 rue des pyrenes", "Rue des Pyrénées", 1),  # a letter missing
        ("trou au 12 rue des pyrénnées", "Rue des Pyrénées", 1),  # one too many
        ("trou au 12 rue de charentin", "Rue de Charenton", 1),  # a wrong one
        ("trou au 12 rue oberkmapf", "Rue Oberkampf", 1),  # two swapped
        ("trou au 15 rue d alsase", "Rue d'Alsace", 1),
        ("trou au 9 rue Sain-Luc", "Rue Saint-Luc", 1),
        ("trou au 8 rue du faubourg sain antoinne", "Rue du Faubourg Saint-Antoine", 2),  # long name: two typos
        ("canettes dans les pieds d'arbres bd de grenel", "Boulevard de Grenelle", 2),  # two letters missing
    ],
)
def test_typos(paris: AddressExtractor, text: str, voie: str, edits: int) -> None:
    found = best(paris, text)
    assert found.voie == voie
    assert found.score == pytest.approx(0.9 if found.numero else 0.7, abs=0.1 * edits + 0.051)


def test_two_typos_in_a_short_name_are_not_guessed(paris: AddressExtractor) -> None:
    assert paris.best("trou au 12 rue de lian") is None


@pytest.mark.parametrize(
    ("text", "voie", "numero"),
    [
        ("trou au 40 des pyrenees", "Rue des Pyrénées", "40"),
        ("trou au 12 oberkampf", "Rue Oberkampf", "12"),
        ("moto garee devant le 151 bis cardinet", "Rue Cardinet", "151"),  # Rue rather than Passage Cardinet
        ("vieux velo au 13 montagne ste genevieve", "rue de la Montagne Sainte-Geneviève", "13"),  # as spelt in the BAN
        ("lampadaire rue daumesnil", "Avenue Daumesnil", None),  # the wrong type
        ("pigeon mort au 37 rue rostropovitch", "Rue Mstislav Rostropovitch", "37"),  # the first name left out
    ],
)
def test_street_type_or_first_names_missing(paris: AddressExtractor, text: str, voie: str, numero: str | None) -> None:
    found = best(paris, text)
    assert (found.voie, found.numero) == (voie, numero)
    assert found.score < 0.9  # less sure than with the full name


def test_missing_type_only_when_unambiguous(paris: AddressExtractor) -> None:
    assert paris.best("trou au 5 carnot") is None  # Boulevard Carnot (12e) or Avenue Carnot (17e)
    assert best(paris, "trou au 5 carnot 75017").voie == "Avenue Carnot"
    assert best(paris, "trou au 5 carnot, Paris 12e").voie == "Boulevard Carnot"
    assert best(paris, "Dans le 12ème, trou au 5 carnot").voie == "Boulevard Carnot"
    assert paris.best("il y a 3 voitures garées") is None


@pytest.mark.parametrize(
    ("text", "code_postal"),
    [
        ("trou au 12 place de la République", None),  # the square is in the 3rd, 10th and 11th
        ("trou au 12 place de la République 75011", "75011"),
        ("trou au 12 place de la République, 75010 Paris", "75010"),
        ("trou au 12 place de la République, Paris 3e", "75003"),
        ("trou au 12 place de la République (10ème)", "75010"),
        ("trou au 12 place de la République dans le 11e arrondissement", "75011"),
        ("Dans le 10e, trou au 12 place de la République", "75010"),  # written elsewhere in the text
    ],
)
def test_postcodes(paris: AddressExtractor, text: str, code_postal: str | None) -> None:
    found = best(paris, text)
    assert (found.voie, found.numero, found.code_postal) == ("Place de la République", "12", code_postal)


def test_postcode_of_a_street_in_one_arrondissement(paris: AddressExtractor) -> None:
    assert best(paris, "trou au 12 rue de Lyon").code_postal == "75012"


def test_postcode_tells_homonyms_of_two_communes_apart() -> None:
    extractor = AddressExtractor(
        [
            StreetEntry("Rue de la République", "69002", "69382"),
            StreetEntry("Rue de la République", "13002", "13202"),
            StreetEntry("Place Bellecour", "69002", "69382"),
        ]
    )
    assert best(extractor, "trou au 12 rue de la République").code_postal is None
    assert best(extractor, "trou au 12 rue de la République, 13002").code_postal == "13002"
    assert best(extractor, "trou au 12 rue de la République 69002 Lyon").code_postal == "69002"
    assert best(extractor, "trou place Bellecour").code_postal == "69002"


def test_street_without_number(paris: AddressExtractor) -> None:
    found = best(paris, "La rue Oberkampf est très sale depuis la fête de samedi.")
    assert (found.kind, found.voie, found.numero, found.code_postal) == ("street", "Rue Oberkampf", None, "75011")


@pytest.mark.parametrize(
    ("text", "voie", "second"),
    [
        ("Nid de poule à l'angle de la rue de Charenton et de la rue de Lyon", "Rue de Charenton", "Rue de Lyon"),
        ("feu cassé au croisement rue dombasle / rue de vaugirard", "Rue Dombasle", "Rue de Vaugirard"),
        (
            "au croisement du quai de la Rapée et du boulevard de la Bastille",
            "Quai de la Rapée",
            "Boulevard de la Bastille",
        ),
        ("au croisement de la rue Oberkampf et Saint-Maur", "Rue Oberkampf", "Rue Saint-Maur"),
        ("angle pyrenees / bagnolet", "Rue des Pyrénées", "Rue de Bagnolet"),
        ("au coin de la rue de Lyon et de l'avenue Daumesnil", "Rue de Lyon", "Avenue Daumesnil"),
        (
            "tous les feux éteints au carrefour rue washington / av de friedland",
            "Rue Washington",
            "Avenue de Friedland",
        ),
    ],
)
def test_intersections(paris: AddressExtractor, text: str, voie: str, second: str) -> None:
    found = best(paris, text)
    assert (found.kind, found.voie, found.second_voie, found.numero) == ("intersection", voie, second, None)


def test_two_streets_without_a_crossing_word_stay_two(paris: AddressExtractor) -> None:
    found = paris.mentions("Des tags rue de Lyon et rue de Charenton.")
    assert [(m.kind, m.voie) for m in found] == [("street", "Rue de Lyon"), ("street", "Rue de Charenton")]


def test_a_named_crossing_without_a_second_street_is_no_street(paris: AddressExtractor) -> None:
    assert paris.best("le passage piéton du carrefour d'Alésia est effacé") is None


def test_landmarks(paris: AddressExtractor) -> None:
    text = "Bonjour, devant l'école il y a des seringues par terre."
    found = best(paris, text)
    assert (found.kind, found.landmark, found.voie) == ("landmark", "École Jean Jaurès", None)
    assert text[found.start : found.end] == "l'école"
    assert best(paris, "devant l'école Jean-Jaurès, un trou").landmark == "École Jean Jaurès"
    assert best(paris, "taxis garés devant la gare de Lyon").landmark == "Gare de Lyon"  # not Rue de Lyon
    assert best(paris, "devant l'école, au 12 rue de Lyon, un trou").voie == "Rue de Lyon"  # the address wins


@pytest.mark.parametrize(
    "text",
    [
        "Bonjour, quels sont les horaires d'ouverture de la mairie samedi ?",
        "le lampadaire ne marche plus depuis 3 jours",
        "la rue est sale, le passage des poussettes est impossible",
        "Rendez-vous le 12 mai à 18h",
    ],
)
def test_no_location(paris: AddressExtractor, text: str) -> None:
    assert paris.best(text) is None


def test_offsets_point_into_the_original_text(paris: AddressExtractor) -> None:
    text = "Cœur de la ville : trou au 3 impasse des Bœufs"
    found = best(paris, text)
    assert text[found.start : found.end] == "3 impasse des Bœufs"
    decomposed = "Trou au 12 rue des Pyre\u0301ne\u0301es, merci"  # NFD, as some mail clients send it
    found = best(paris, decomposed)
    assert (found.voie, decomposed[found.start : found.end]) == ("Rue des Pyrénées", "12 rue des Pyre\u0301ne\u0301es")
    even = "Cœur : trou au 12 rue des Pyre\u0301nées"  # one character more, one less: the same length
    found = best(paris, even)
    assert even[found.start : found.end] == "12 rue des Pyre\u0301nées"


def test_mentions_come_in_order_and_extract_gives_both(paris: AddressExtractor) -> None:
    text = "Tags rue de Lyon, et au 12 rue de Charenton un trou."
    found = paris.mentions(text)
    assert [m.voie for m in found] == ["Rue de Lyon", "Rue de Charenton"]
    assert paris.extract(text) == (found[1], found)  # the address is surer than the street


@pytest.mark.parametrize(
    ("text", "voie", "numero", "postcode"),
    [
        ("Lampadaire éteint au 12 r. St-Antoine", "Rue Saint-Antoine", "12", None),
        ("Nid de poule au 40 bd Rochechouart", "Boulevard Marguerite de Rochechouart", "40", None),
        ("Dépôt sauvage av. de la Rép. devant le 3", "Avenue de la République", "3", "75011"),
        ("Tag au 8 r. des Peti. Écuries", "Rue des Petites Écuries", "8", "75010"),
        ("Tag au 5 rue de Charonne XIe", "Rue de Charonne", "5", "75011"),
        ("Tag au 5 rue de Charonne Paris 11e", "Rue de Charonne", "5", "75011"),
        ("Tag au 5 rue de Charonne 75011", "Rue de Charonne", "5", "75011"),
        ("Déchets au 3 rue Mouffetard Ve", "Rue Mouffetard", "3", "75005"),
        ("Déchets au 10 rue des Lilas, XIXe arr.", "Rue des Lilas", "10", "75019"),
    ],
)
def test_french_short_forms_and_district_hints(
    paris: AddressExtractor, text: str, voie: str, numero: str, postcode: str | None
) -> None:
    found = best(paris, text)
    assert (found.voie, found.numero) == (voie, numero)
    assert postcode is None or found.code_postal == postcode


def test_a_word_cut_short_is_completed_only_when_one_name_fits(paris: AddressExtractor) -> None:
    # "rue de Bell." could be Belleville, Bellechasse, Bellefond...: no street rather than a guess.
    found = paris.best("Un nid de poule au 20 rue de Bell. depuis lundi")
    assert found is None or found.voie is None or not found.voie.startswith("Rue de Bell")
    assert paris.best("Il fait beau. Merci pour la pré. de la réunion") is None  # running text is not a street
