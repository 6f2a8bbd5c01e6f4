"""What an answer may carry out of the gateway: no images (a renderer fetches them, and a poisoned document can
make a model put data in their URLs), and links only to URLs that appear in the passages the model was shown.
Applied before an answer is cached or leaves the gateway, streamed or whole. Pure functions; no model needed."""

import re

from prometheus_client import Counter

# Images, links and URLs taken out of answers: a rising count means documents (or a model) try to exfiltrate.
REMOVALS = Counter("ragmesh_gateway_answer_removals", "Images, links and URLs removed from answers.")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)|<img\b[^>]*>", re.IGNORECASE)
_LINK = re.compile(r"\[([^\]]*)\]\(\s*<?([^)\s>]+)>?[^)]*\)")
_REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$", re.MULTILINE)
_URL = re.compile(r"<?\b(?:https?|ftp)://[^\s<>()\[\]\"']+>?|\bwww\.[^\s<>()\[\]\"']+", re.IGNORECASE)
REMOVED_LINK = "[link removed]"


def urls_in(texts: list[str]) -> set[str]:
    """Every URL written in these texts (what an answer may link to)."""
    return {_bare(m.group(0)).rstrip(".,;:") for text in texts for m in _URL.finditer(text)}


def _bare(url: str) -> str:
    return url.strip("<>")


def sanitize(answer: str, allowed: set[str]) -> tuple[str, int]:
    """The answer without images, reference-style link definitions, or links and URLs outside `allowed`; and how
    many things were removed."""
    removed = 0

    def drop(_: re.Match) -> str:
        nonlocal removed
        removed += 1
        return ""

    def link(match: re.Match) -> str:
        nonlocal removed
        if _bare(match.group(2)).rstrip(".,;:") in allowed:
            return match.group(0)
        removed += 1
        return match.group(1)

    def url(match: re.Match) -> str:
        nonlocal removed
        if _bare(match.group(0)).rstrip(".,;:") in allowed:
            return match.group(0)
        removed += 1
        return REMOVED_LINK

    text = _IMAGE.sub(drop, answer)
    text = _REFERENCE.sub(drop, text)
    # Markdown links first (their URL is judged once), then bare URLs outside them.
    parts, last = [], 0
    for match in _LINK.finditer(text):
        parts.append(_URL.sub(url, text[last : match.start()]))
        parts.append(link(match))
        last = match.end()
    parts.append(_URL.sub(url, text[last:]))
    return "".join(parts), removed


def sanitize_counted(answer: str, allowed: set[str]) -> str:
    """`sanitize`, with the removals counted in the metric."""
    clean, removed = sanitize(answer, allowed)
    REMOVALS.inc(removed)
    return clean


class StreamSanitizer:
    """Sanitizes a streamed answer: text is held back from the first character that may open an image, a link or a
    URL not yet complete, and released once it is judged, so no unsafe byte is ever sent."""

    def __init__(self, allowed: set[str]) -> None:
        self._allowed = allowed
        self._text = ""
        self._sent = 0
        self.removed = 0

    def feed(self, delta: str) -> str:
        self._text += delta
        return self._release(_safe_cut(self._text))

    def finish(self) -> str:
        released = self._release(len(self._text))
        REMOVALS.inc(self.removed)
        return released

    def _release(self, cut: int) -> str:
        clean, removed = sanitize(self._text[:cut], self._allowed)
        self.removed = removed
        out, self._sent = clean[self._sent :], max(self._sent, len(clean))
        return out


# Constructs that may still be open at the end of the text seen so far: "[text", "[text]" (a "(" may follow),
# "[text](url", "![...", "<tag ...", a lone "!", and a line that may be a reference definition "[ref]: url".
_OPEN_AT_END = re.compile(
    r"!?\[[^\]]*\Z|!?\[[^\]]*\]\Z|!?\[[^\]]*\]\([^)]*\Z|<[A-Za-z/][^>]*\Z|!\Z|^\s*\[[^\]]+\]:[^\n]*\Z",
    re.MULTILINE,
)


# What a bare URL starts with (`_URL`, lower case): a word is held back only from where it may still become one.
_URL_STARTS = ("http://", "https://", "ftp://", "www.")


def _url_may_start(word: str) -> int | None:
    """Where in a trailing `word` (text after the last whitespace) a URL may begin or has begun, so that it may
    still grow into one the answer must not carry: the first place at a word boundary whose rest is a start of
    `http://`, `https://`, `ftp://` or `www.` (or one of them and more), with the `<` that may open it. None when
    the word cannot become a URL whatever follows, as most words cannot."""
    for i in range(len(word) + 1):
        if i and (word[i - 1].isalnum() or word[i - 1] == "_"):
            continue
        rest = word[i:].lower()
        if any(start.startswith(rest) or rest.startswith(start) for start in _URL_STARTS):
            return i - 1 if i and word[i - 1] == "<" else i
    return None


def _safe_cut(text: str) -> int:
    """Where judged text ends: before the part of a trailing word that may still grow into a URL, and before a
    construct that may still be open in what is left (repeated: cutting a word may leave a construct open). A
    closed "[1]" followed by anything but "(" is a citation marker and passes. A word that cannot become a URL
    goes out as it comes (holding every word back delayed each stream's first token by a model step)."""
    cut = len(text)
    while True:
        start = max(text.rfind(" ", 0, cut), text.rfind("\n", 0, cut), text.rfind("\t", 0, cut)) + 1
        url = _url_may_start(text[start:cut]) if start < cut else None
        new = cut if url is None else start + url
        match = _OPEN_AT_END.search(text[:new])
        if match:
            new = match.start()
        if new == cut:
            return cut
        cut = new
