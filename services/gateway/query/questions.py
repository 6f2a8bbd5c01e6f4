"""The question as the pipeline sees it: control characters gone, within the length budget."""

import unicodedata

from services.runtime.errors import InvalidArgument

_CONTROL = {"Cc", "Cf"}


def clean_question(question: str, max_chars: int) -> str:
    """The question without control characters; InvalidArgument when empty or too long."""
    cleaned = "".join(
        " " if ch in "\t\n\r" else ch for ch in question if ch in "\t\n\r" or unicodedata.category(ch) not in _CONTROL
    ).strip()
    if not cleaned:
        raise InvalidArgument("question is empty")
    if len(cleaned) > max_chars:
        raise InvalidArgument(f"question is {len(cleaned)} characters long; the limit is {max_chars}")
    return cleaned
