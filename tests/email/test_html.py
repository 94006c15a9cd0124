"""Tests for intake.email.html: nh3 sanitising and HTML to text."""

from __future__ import annotations

from intake.email.html import html_to_text, sanitise_html

HOSTILE = (
    "<html><head><title>T</title><style>p{color:red}</style><script>alert(1)</script></head>"
    '<body onload="steal()"><p style="x" onclick="y()">Bonjour&nbsp;&eacute;t&eacute; &amp; co<br>ligne 2</p>'
    '<img src="https://tracker.example.com/p.gif"><img src="cid:logo@ville">'
    '<img src="data:image/png;base64,AAAA">'
    '<a href="javascript:alert(1)">lien</a><iframe src="https://evil.example"></iframe></body></html>'
)


def test_sanitise_removes_scripts_styles_handlers_and_remote_images() -> None:
    clean = sanitise_html(HOSTILE)
    for forbidden in (
        "<script",
        "alert",
        "<style",
        "color:red",
        "onload",
        "onclick",
        "style=",
        "tracker",
        "javascript:",
        "<iframe",
        "evil",
    ):
        assert forbidden not in clean
    assert '<img src="cid:logo@ville">' in clean
    assert 'src="data:image/png;base64,AAAA"' in clean
    assert "Bonjour&nbsp;été &amp; co<br>ligne 2" in clean


def test_html_to_text_keeps_line_breaks_and_unescapes() -> None:
    html = "<div>Bonjour,</div><div>le&nbsp;banc est cass&eacute;<br>depuis hier</div><p>Merci</p><p>Jean</p>"
    assert html_to_text(html) == "Bonjour,\nle banc est cassé\ndepuis hier\n\nMerci\n\nJean"


def test_html_to_text_drops_invisible_content() -> None:
    assert html_to_text(HOSTILE) == "Bonjour été & co\nligne 2\nlien"


def test_blockquote_becomes_quoted_lines() -> None:
    html = "<p>Oui.</p><blockquote>Le 3 mars, X a écrit :<br>texte cité</blockquote>"
    assert html_to_text(html) == "Oui.\n> Le 3 mars, X a écrit :\n> texte cité"


def test_hr_becomes_outlook_separator() -> None:
    assert html_to_text("<p>a</p><hr><p>b</p>") == "a\n________________________________\n\nb"


def test_pre_keeps_its_lines() -> None:
    assert html_to_text("<pre>a  b\nc</pre>") == "a  b\nc"


def test_broken_html_does_not_raise() -> None:
    assert html_to_text("<p>a<b>b</p></div></div><<>>&#xZZ;").startswith("ab")
