"""Tests for intake.email.quotes: the writer's words, quoted history and signature."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from intake.email.quotes import split_reply

BODY = "Le trottoir est défoncé devant le 4 rue Haute."


@pytest.mark.parametrize(
    "history",
    [
        "> Bonjour,\n> votre demande est enregistrée.",
        "Le lun. 3 mars 2025 à 10:12, Mairie <guichet@ville.fr> a écrit :\n> Bonjour",
        "Le lun. 3 mars 2025 à 10:12, Mairie de Villeneuve <guichet@ville.fr> a\nécrit :\n\n> Bonjour",
        "On Mon, Mar 3, 2025 at 10:12 AM Mairie <guichet@ville.fr> wrote:\n> Hello",
        "-----Message d'origine-----\nDe : Mairie\nEnvoyé : lundi 3 mars 2025 10:12\nObjet : Votre demande\n\nBonjour",
        "-----Original Message-----\nFrom: Town\nSent: Monday\nSubject: Your request\n\nHello",
        "De : Mairie <guichet@ville.fr>\nEnvoyé : lundi 3 mars 2025 10:12\nÀ : Jean\nObjet : RE: Trottoir\n\nBonjour",
        "________________________________\nFrom: Town <t@ville.fr>\nSent: Monday\nTo: Jean\nSubject: Re: x\n\nHi",
    ],
)
def test_quoted_history_is_separated(history: str) -> None:
    split = split_reply(f"{BODY}\n\n{history}\n")
    assert split.text == BODY
    assert split.quoted == history.strip()
    assert split.signature == ""


@pytest.mark.parametrize(
    ("ending", "signature"),
    [
        ("-- \nJean Dupont\n06 12 34 56 78", "-- \nJean Dupont\n06 12 34 56 78"),
        ("Envoyé de mon iPhone", "Envoyé de mon iPhone"),
        ("Envoyé depuis mon smartphone Samsung Galaxy", "Envoyé depuis mon smartphone Samsung Galaxy"),
        ("Sent from my iPhone", "Sent from my iPhone"),
    ],
)
def test_signature_markers(ending: str, signature: str) -> None:
    split = split_reply(f"{BODY}\n\n{ending}")
    assert (split.text, split.signature) == (BODY, signature)


def test_closing_phrase_stays_and_contact_block_goes() -> None:
    split = split_reply(f"{BODY}\n\nCordialement,\nJean Dupont\n12 rue Haute, 47300 Villeneuve\n06 12 34 56 78")
    assert split.text == f"{BODY}\n\nCordialement,"
    assert split.signature == "Jean Dupont\n12 rue Haute, 47300 Villeneuve\n06 12 34 56 78"


def test_bare_name_and_phone_lines_are_a_signature() -> None:
    split = split_reply(f"{BODY}\nMerci.\n\nNadia Haddad\nTél. : 06 12 34 56 78", sender_name="Nadia Haddad")
    assert split.text == f"{BODY}\nMerci."
    assert split.signature == "Nadia Haddad\nTél. : 06 12 34 56 78"


def test_sentence_with_a_phone_stays_in_text() -> None:
    text = f"{BODY}\n\nVous pouvez me joindre en journée au 06 12 34 56 78 si besoin."
    assert split_reply(text).text == text


def test_words_that_look_like_markers_are_kept() -> None:
    text = (
        "On Monday the bin was not collected.\n"
        "The notification was sent from my iPhone app to all users.\n--> see photo"
    )
    split = split_reply(text)
    assert (split.text, split.quoted, split.signature) == (text, "", "")


def test_bottom_posting_keeps_the_answer() -> None:
    split = split_reply("Jean a écrit :\n> Le banc est cassé ?\n\nOui, depuis hier.")
    assert split.text == "Oui, depuis hier."
    assert split.quoted == "Jean a écrit :\n> Le banc est cassé ?"


def test_empty() -> None:
    assert split_reply("") == split_reply("\n\n")


def test_corpus_french_multiline_header(raw: Callable[[str], bytes]) -> None:
    split = split_reply(raw("crisp-email-reply-parser/email_fr_multiline.txt").decode())
    assert split.text.endswith("Fusce sed odio id arcu varius aliquet nec nec nibh.")
    assert split.quoted.startswith("Le lun. 15 nov. 2021 à 19:42, John - Acme <john@acme.supportcorp.com>\na écrit :")


def test_corpus_message_d_origine(raw: Callable[[str], bytes]) -> None:
    split = split_reply(raw("crisp-email-reply-parser/email_french_dash_separator.txt").decode())
    assert split.quoted.splitlines()[:2] == [
        "-------- Message d'origine --------",
        "De : A B C <abc@abc.org>",
    ]


def test_corpus_outlook_ios_fr(raw: Callable[[str], bytes]) -> None:
    split = split_reply(raw("crisp-email-reply-parser/email_ios_outlook_fr.txt").decode())
    assert split.signature == "Envoyé à partir de Outlook pour iOS<https://aka.ms/o0ukef>"
    assert split.quoted.splitlines()[:2] == [
        "________________________________",
        "From: The Hiring Engine <job-applicant-incoming-text+65701@hiringenginemail.com>",
    ]


def test_corpus_zimbra_fr(raw: Callable[[str], bytes]) -> None:
    split = split_reply(raw("willdurand-EmailReplyParser/email_zimbra_free_fr.txt").decode())
    assert split.text.endswith("Michael Scott")
    assert split.quoted.startswith("- Le 2021-04-09 23:25, Toby Flenderson a écrit :")


def test_corpus_windows_mail(raw: Callable[[str], bytes]) -> None:
    split = split_reply(raw("willdurand-EmailReplyParser/email_w10_mail.txt").decode())
    assert split.text == "Great thanks Bort, going for a test now.\nBraxton"
    assert split.signature == "Sent from Mail for Windows 10"
    assert split.quoted.startswith("From: Bort\nSent: April 9, 2020 2:02 PM")


@pytest.mark.parametrize(
    ("name", "text", "signature"),
    [
        ("email_iphone.txt", "Here is another email", "Sent from my iPhone"),
        ("correct_sig.txt", "this is an email with a correct -- signature.", "--\nrick"),
        ("email_original_message.txt", None, ""),
    ],
)
def test_corpus_signatures(raw: Callable[[str], bytes], name: str, text: str | None, signature: str) -> None:
    split = split_reply(raw(f"crisp-email-reply-parser/{name}").decode())
    if text is not None:
        assert split.text == text
    assert split.signature == signature
