"""The real type of a document, from its bytes rather than its name or declared type.

A binary file renamed `.txt`, an archive (a zip bomb among them) sent as text, a PDF sent as Markdown: the magic
numbers decide (the `filetype` library's table), and text is told from binary by the bytes themselves.
"""

import codecs

import filetype

from services.ingest.extract import PDF, SUPPORTED_TYPES, TEXT_TYPES, Unreadable, UnsupportedType

# Enough of the head of a file for every magic number and a fair look for NUL bytes.
_HEAD = 8192


def real_type(content: bytes, declared: str) -> str:
    """The type to extract `content` as: PDF when the bytes are a PDF, the declared text type when they are text.
    UnsupportedType when the bytes are some other known binary format, Unreadable when they are not text."""
    head = content[:_HEAD]
    if head.startswith(b"%PDF"):
        return PDF
    # Text first: some magic numbers are printable ("BM" is a bitmap's, and the start of "BMP is thought to..."), so a
    # head that is valid UTF-8 without NUL bytes is text whatever it starts with.
    kind = None if _utf8_text(head) else filetype.guess(head)
    if kind is not None:
        raise UnsupportedType(
            f"the file is {kind.mime} (.{kind.extension}) by its content, which is not supported"
            f"{f' (it was sent as {declared})' if declared and declared != kind.mime else ''}; "
            f"send one of: {', '.join(SUPPORTED_TYPES)}"
        )
    utf16 = head[:2] in (b"\xff\xfe", b"\xfe\xff")
    if not utf16 and b"\x00" in head:
        raise Unreadable("the file holds binary data, not text")
    if declared == PDF:
        raise Unreadable("the file is not a PDF (it does not start with %PDF)")
    if declared in TEXT_TYPES or not declared:
        return declared or TEXT_TYPES[0]
    raise UnsupportedType(f"content type {declared!r} is not supported; send one of: {', '.join(SUPPORTED_TYPES)}")


def _utf8_text(head: bytes) -> bool:
    """Whether the bytes are UTF-8 text (a character cut at the end of the head allowed) without NUL bytes."""
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True
