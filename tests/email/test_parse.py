"""End-to-end tests for intake.email.parse.parse_email on realistic French and real-world messages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from intake.email.model import Address, EmailParseError, ParsedEmail
from intake.email.parse import parse_email

Parse = Callable[..., ParsedEmail]
TOWN = ("ville-exemple.fr",)


def test_outlook_fr_forward(parsed: Parse) -> None:
    mail = parsed("guichet/fwd_outlook_fr.eml", own_domains=TOWN)
    assert mail.forwarded and mail.citizen_recovered
    assert mail.sender == Address("Jean Dupont", "jean.dupont@exemple.fr")
    assert mail.forwarded_by == Address("Marie Martin", "marie.martin@ville-exemple.fr")
    assert mail.header_from == mail.forwarded_by
    assert mail.subject == "Lampadaire en panne rue des Lilas"
    assert mail.header_subject == "TR: Lampadaire en panne rue des Lilas"
    assert mail.text.splitlines()[0] == "Bonjour,"
    assert "C’est dangereux le soir pour les enfants qui rentrent de l’école." in mail.text
    assert mail.text.endswith("Cordialement,")
    assert mail.signature == "Jean Dupont\n06 12 34 56 78"
    # The staff member's phone is in her note, not in the citizen's message.
    assert mail.sender_phone == "+33612345678"
    assert mail.forward_note.startswith("Bonjour, à traiter svp.")
    assert [(a.filename, a.content_type, a.size, a.origin) for a in mail.attachments] == [
        ("lampadaire.jpg", "image/jpeg", 134, "mime")
    ]
    assert mail.message_id == "AM0PR10MB3283A1B2C3D4E5F6@AM0PR10MB3283.EURPRD10.PROD.OUTLOOK.COM"
    assert mail.date == datetime(2025, 3, 3, 11, 2, 10, tzinfo=timezone(timedelta(hours=1)))
    assert mail.to == ["signalements@ville-exemple.fr"]
    assert not mail.auto_reply


def test_outlook_html_is_sanitised(parsed: Parse) -> None:
    html = parsed("guichet/fwd_outlook_fr.eml").html
    assert html is not None and "Bonjour, à traiter svp." in html
    for forbidden in ("<script", "onload", "<style", "tracker.example.com", "javascript:", "onclick"):
        assert forbidden not in html
    assert 'src="cid:logo@ville"' in html


def test_gmail_fr_forward(parsed: Parse) -> None:
    mail = parsed("guichet/fwd_gmail_fr.eml")
    assert mail.sender == Address("Sophie Lefèvre", "sophie.lefevre@gmail.com")
    assert mail.forwarded_by == Address("Paul Agent", "paul.agent@ville-exemple.fr")
    assert mail.subject == "Dépôt sauvage chemin du Moulin"
    assert mail.text == (
        "Bonjour,\n"
        "Des sacs d'ordures et un vieux matelas ont été déposés au bout du chemin du Moulin, près du pont."
        "\nMerci de faire le nécessaire."
    )
    assert mail.signature == "Sophie Lefèvre\n+33 6 98 76 54 32"
    assert mail.sender_phone == "+33698765432"
    assert mail.forward_note == "à traiter svp, merci !"
    assert mail.in_reply_to == "CAB7sophie0001@mail.gmail.com"
    assert mail.references == ["CAB7sophie0001@mail.gmail.com"]


def test_thunderbird_fr_forward_in_latin9(parsed: Parse) -> None:
    mail = parsed("guichet/fwd_thunderbird_fr.eml")
    assert mail.sender == Address("René Œuvray", "rene.oeuvray@orange.fr")
    assert mail.forwarded_by == Address("Stéphane Roux", "stephane.roux@ville-exemple.fr")
    assert mail.subject == "Nid-de-poule avenue Foch"
    assert "ma jante : coût de la réparation 180 €. Ça devient dangereux pour les vélos." in mail.text
    assert mail.sender_phone == "+33611223344"
    assert mail.forward_note == "Pour la voirie."


def test_apple_mail_fr_forward(parsed: Parse) -> None:
    mail = parsed("guichet/fwd_apple_fr.eml")
    assert mail.sender == Address("Claire Moreau", "claire.moreau@free.fr")
    assert mail.forwarded_by == Address("Amélie Garnier", "amelie.garnier@ville-exemple.fr")
    assert mail.subject == "Tags sur le mur de l’école"
    assert mail.text.splitlines()[1].startswith("Des tags injurieux ont été peints cette nuit")
    assert mail.signature == "Envoyé de mon iPhone"
    assert mail.forward_note == ""


def test_forward_as_attached_message(parsed: Parse) -> None:
    mail = parsed("guichet/fwd_rfc822_fr.eml")
    assert mail.sender == Address("Luc Bernard", "luc.bernard@laposte.net")
    assert mail.forwarded_by == Address("Accueil Mairie", "accueil@ville-exemple.fr")
    assert mail.subject == "Arbre tombé sur la chaussée"
    assert mail.text.splitlines()[0] == "Bonsoir,"
    assert mail.sender_phone == "+33556123456"
    assert mail.forward_note == "Bonjour, voir le message ci-joint."
    assert [(a.filename, a.size, a.origin) for a in mail.attachments] == [("arbre tombé.jpg", 134, "rfc822")]


def test_nested_forwards_pick_the_innermost_citizen(parsed: Parse) -> None:
    mail = parsed("guichet/fwd_nested_fr.eml", own_domains=TOWN)
    assert mail.sender == Address("Nadia Haddad", "nadia.h@hotmail.fr")
    assert mail.forwarded_by == Address("Accueil", "accueil@ville-exemple.fr")
    assert mail.subject == "Bruit nocturne place du Marché"
    assert mail.text.splitlines()[-1] == "Nous ne dormons plus."
    assert mail.signature == "Nadia Haddad"
    assert mail.forward_note == "Pour suite à donner."


def test_forward_without_citizen_address(parsed: Parse) -> None:
    mail = parsed("guichet/fwd_no_citizen_fr.eml")
    assert mail.forwarded
    assert not mail.citizen_recovered
    assert mail.sender == Address("Jean Dupont", None)
    assert mail.text == "Un chien errant tourne autour de l'aire de jeux du parc Montaigne depuis ce matin."


def test_forward_prefix_without_any_header_block() -> None:
    mail = parse_email("From: agent@ville-exemple.fr\nSubject: TR: Encombrants\n\nUn canapé rue Basse.\n".encode())
    assert mail.forwarded and not mail.citizen_recovered
    assert mail.sender == Address(None, None)
    assert mail.subject == "Encombrants"
    assert mail.text == "Un canapé rue Basse."


def test_forward_from_a_citizen_of_our_own_reply_is_not_unwrapped() -> None:
    raw = (
        "From: Jean <jean@exemple.fr>\nSubject: Fwd: Votre signalement\n\nToujours pas réparé !\n\n"
        "---------- Forwarded message ---------\nFrom: Mairie <guichet@ville-exemple.fr>\n"
        "Date: Mon, 3 Mar 2025\nSubject: Votre signalement\n\nC'est réparé.\n"
    ).encode()
    mail = parse_email(raw, own_domains=TOWN)
    assert not mail.forwarded and mail.forwarded_by is None
    assert mail.sender == Address("Jean", "jean@exemple.fr")
    assert mail.text == "Toujours pas réparé !"
    assert mail.quoted.startswith("---------- Forwarded message ---------")


def test_reply_is_not_a_forward(parsed: Parse) -> None:
    mail = parsed("guichet/reply_quoted_fr.eml")
    assert not mail.forwarded and mail.forwarded_by is None
    assert mail.sender == Address("Jean Dupont", "jean.dupont@exemple.fr")
    assert mail.text == "Merci, mais le lampadaire est de nouveau en panne depuis hier soir."
    assert mail.quoted.startswith(
        "Le mar. 11 mars 2025 à 09:12, Mairie de Villeneuve <guichet@ville-exemple.fr> a\nécrit :"
    )
    assert mail.references == ["2025-00012.ack@ville-exemple.fr", "2025-00012.notif@ville-exemple.fr"]


@pytest.mark.parametrize(
    ("name", "sender_name", "subject", "text"),
    [
        (
            "charset_iso8859_15.eml",
            "Élodie François",
            "œuvre d'art abîmée",
            "L'œuvre d'art du rond-point a coûté 15 000 € : elle est déjà abîmée, ça fait peine à voir.",
        ),
        (
            "charset_windows1252.eml",
            "Françoise Bœuf",
            "Trottoir de l’école",
            "Le trottoir devant l’école est défoncé… Les réparations coûteraient 2 000 € selon l’œil du voisin.",
        ),
        (
            "charset_qp_utf8.eml",
            "Éric Côté",
            "Façade taguée €",
            "Ça y est : la façade de la salle des fêtes est taguée, l’œuvre a coûté 500 € à nettoyer l'an dernier.",
        ),
        (
            "charset_undeclared_8bit.eml",
            "Gerard Lambert",
            "Probleme de poubelles",
            "Les poubelles de la résidence ne sont plus ramassées, ça déborde près de l'entrée. Merci.",
        ),
        (
            "charset_mislabelled.eml",
            "Hélène Petit",
            "Fuite d'eau rue Gambetta",
            "Une fuite d'eau inonde le trottoir du 3 rue Gambetta depuis ce matin, c'est très glissant.",
        ),
    ],
)
def test_charsets(parsed: Parse, name: str, sender_name: str, subject: str, text: str) -> None:
    mail = parsed(f"guichet/{name}")
    assert (mail.sender.name, mail.subject, mail.text) == (sender_name, subject, text)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("guichet/auto_reponse_automatique_fr.eml", "Auto-Submitted: auto-replied"),
        ("guichet/auto_outlook_oof_fr.eml", "X-Auto-Response-Suppress: All"),
        ("guichet/bounce_report_fr.eml", "Content-Type: multipart/report (avis de non-remise ou de lecture)"),
        ("guichet/mailing_list_fr.eml", "List-Id (liste de diffusion)"),
        ("flanker/bounce/office365.eml", "Auto-Submitted: auto-replied"),
        (
            "flanker/disposition-notification.eml",
            "Content-Type: multipart/report (avis de non-remise ou de lecture)",
        ),
    ],
)
def test_automatic_messages(parsed: Parse, name: str, reason: str) -> None:
    mail = parsed(name)
    assert mail.auto_reply
    assert mail.auto_reply_reason == reason


def test_bounce_is_not_unwrapped_as_a_forward(parsed: Parse) -> None:
    mail = parsed("guichet/bounce_report_fr.eml")
    assert not mail.forwarded
    assert mail.sender == Address("Mail Delivery System", "mailer-daemon@mx.ville-exemple.fr")
    assert [(a.filename, a.content_type) for a in mail.attachments] == [("message-joint-1.eml", "message/rfc822")]


def test_own_domain_message_is_automatic() -> None:
    mail = parse_email(b"From: guichet@ville-exemple.fr\nSubject: Votre signalement\n\nMerci.\n", own_domains=TOWN)
    assert mail.auto_reply_reason == "message de notre propre domaine (guichet@ville-exemple.fr)"


def test_staff_forward_is_not_our_own_message(parsed: Parse) -> None:
    assert not parsed("guichet/fwd_outlook_fr.eml", own_domains=TOWN).auto_reply


def test_django_helpdesk_forwarded_message(parsed: Parse) -> None:
    mail = parsed("django-helpdesk/forwarded-message.eml")
    assert mail.sender == Address("GitHub", "noreply@github.com")
    assert mail.forwarded_by == Address("The Sender", "sender@domain.tld")
    assert mail.subject == "[GitHub API] Update notice for access token [SEC=UNOFFICIAL]"
    assert mail.text.splitlines()[0] == "Hello there!"
    assert mail.forward_note == "This is email body"
    assert not mail.auto_reply  # the outer message is judged, not GitHub's noreply


def test_thunderbird_en_forward_with_wrapped_to(parsed: Parse) -> None:
    mail = parsed("django-helpdesk/utf-nondecodable.eml")
    assert mail.sender == Address("Nikola", "nikola@example.cz")
    assert mail.forwarded_by == Address("John Smith", "john.smith@example.cz")
    assert mail.subject == "Cyklozaměstnavatel - změna vyhodnocení"
    assert mail.text.splitlines()[0] == "Ahoj Johne,"


def test_nested_message_bomb_is_cut(parsed: Parse) -> None:
    mail = parsed("flanker/enclosed-endless.eml")
    assert mail.sender.email == "bob@examplehq.com"
    assert any("parties MIME" in d or "trop imbriqué" in d for d in mail.defects)


def test_enclosed_message(parsed: Parse) -> None:
    mail = parsed("flanker/enclosed.eml")
    assert mail.sender == Address("Kirk Douglas", "dan@example.com")
    assert mail.forwarded_by == Address("Bob Marley", "bob@example.net")
    assert mail.text.splitlines()[0] == "dudes... you're kicking ass."


def test_html_only_reply(parsed: Parse) -> None:
    mail = parsed("talon/reply-quotations-share-block.eml")
    assert not mail.forwarded
    assert mail.text.startswith("Hi Katharine.")
    assert mail.quoted.startswith("From: xxx@example.com <xxx@example.com>")


def test_raw_tnef_gives_a_message(parsed: Parse) -> None:
    mail = parsed("tnefparse/two-files.tnef")
    assert mail.sender == Address(None, None)
    assert [(a.filename, a.size, a.origin) for a in mail.attachments] == [
        ("AUTHORS", 244, "tnef"),
        ("README", 893, "tnef"),
    ]
    assert mail.defects == ["données TNEF (winmail.dat) brutes, sans enveloppe MIME"]


@pytest.mark.parametrize("data", [b"", b"   \r\n\t"])
def test_empty_input_raises_parse_error(data: bytes) -> None:
    with pytest.raises(EmailParseError):
        parse_email(data)


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01\x02",
        b"\xff" * 100,
        b"Subject: =?utf-8?B?\xff?=\n\n\x00",
        b"From: <<<@@@>>>\n\nx",
        b"x" * 5000,
        b'Content-Type: multipart/mixed; boundary="a"\n\n' + b"--a\nContent-Type: message/rfc822\n\n" * 300,
    ],
)
def test_garbage_never_raises(data: bytes) -> None:
    mail = parse_email(data)
    for value in (mail.text, mail.body_text, mail.subject, mail.quoted, mail.signature):
        assert "\x00" not in value
        value.encode("utf-8")
