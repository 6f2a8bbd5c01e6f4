"""Answer sanitization as pure functions: what goes, what stays, and a stream cut anywhere gives the same text."""

import random

import pytest

from services.gateway.query.safety import REMOVED_LINK, StreamSanitizer, sanitize, urls_in

ALLOWED = urls_in(["Timetables: https://ferries.example.org/harl. Archive at www.example.org/a."])
ANSWER = (
    "It leaves at 07:15 [1]. ![x](https://evil.test/?q=s) and [docs](https://evil.test/a), https://evil.test/b, "
    "[ok](https://ferries.example.org/harl) [2]. <img src=x>\n[ref]: https://evil.test/c\nwww.evil.test/d, "
    "www.example.org/a and a < b! See(www.evil.test/e) or <https://evil.test/f> (ftp://evil.test/g)."
)


@pytest.mark.parametrize(
    ("answer", "kept", "gone"),
    [
        ("![a](https://evil.test/p?d=1) text", "text", "evil"),
        ("<IMG SRC='https://evil.test/x'> text", "text", "evil"),
        ("[click](https://evil.test/x)", "click", "evil"),
        ("see https://evil.test/x.", REMOVED_LINK, "evil"),
        ("[ok](https://ferries.example.org/harl)", "[ok](https://ferries.example.org/harl)", "removed"),
        ("https://ferries.example.org/harl.", "https://ferries.example.org/harl.", "removed"),
        ("[r]: https://evil.test/c", "", "evil"),
        ("Cites [1] and [2].", "Cites [1] and [2].", "removed"),
    ],
)
def test_images_and_foreign_links_go_and_the_passages_links_stay(answer, kept, gone):
    clean, _ = sanitize(answer, ALLOWED)
    assert kept in clean and gone not in clean


def test_a_stream_cut_anywhere_releases_exactly_the_sanitized_answer():
    expected, removed = sanitize(ANSWER, ALLOWED)
    # image, link, bare URL, <img>, reference definition, and four bare addresses (www., inside a word, <...>, ftp)
    assert removed == 9
    rng = random.Random(5)
    for _ in range(500):
        cuts = sorted(rng.sample(range(1, len(ANSWER)), rng.randint(1, 60)))
        guard = StreamSanitizer(ALLOWED)
        released = [guard.feed(ANSWER[i:j]) for i, j in zip([0, *cuts], [*cuts, len(ANSWER)], strict=True)]
        assert "".join(released) + guard.finish() == expected


def test_words_and_citations_stream_without_waiting_for_the_end():
    guard = StreamSanitizer(ALLOWED)
    # A marker waits for one more character only (a "(" would make it a link).
    fed = [guard.feed(word) for word in ("It", " leaves", " [1]", " daily.")]
    assert fed == ["It", " leaves", " ", "[1] daily."]
    assert guard.finish() == ""


@pytest.mark.parametrize(
    ("stream", "released"),
    [
        (["See h"], "See "),
        (["See ht", "tps:/"], "See "),
        (["See(ww"], "See("),
        (["a <"], "a "),
        (["a <http"], "a "),
        (["Shipwright"], "Shipwright"),
        (["The www"], "The "),
    ],
)
def test_only_what_may_still_become_a_url_waits(stream, released):
    guard = StreamSanitizer(ALLOWED)
    assert "".join(guard.feed(delta) for delta in stream) == released
