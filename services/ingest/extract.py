"""Text extraction that keeps document structure: headings become sections, sections keep their path.

Plain text, Markdown, HTML and PDF. Anything else is refused with the reason, never guessed at.
"""

import io
import mimetypes
import re
import sys
import unicodedata
from dataclasses import dataclass, field

from services.runtime.errors import InvalidArgument

MARKDOWN = "text/markdown"
PLAIN = "text/plain"
HTML = "text/html"
PDF = "application/pdf"
SUPPORTED_TYPES = (PLAIN, MARKDOWN, HTML, PDF)
TEXT_TYPES = (PLAIN, MARKDOWN, HTML)
_ALIASES = {"text/x-markdown": MARKDOWN, "application/xhtml+xml": HTML, "application/x-pdf": PDF}
_EXTENSIONS = {".md": MARKDOWN, ".markdown": MARKDOWN, ".txt": PLAIN, ".text": PLAIN, ".htm": HTML, ".html": HTML}


class UnsupportedType(InvalidArgument):
    """The content type is not one we extract."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="unsupported_media_type")


class Unreadable(InvalidArgument):
    """The bytes do not parse as the type they claim, hold no text, or are past a limit of extraction."""

    def __init__(self, message: str, reason: str = "unprocessable") -> None:
        super().__init__(message, reason=reason)

    def __reduce__(self):
        # It crosses from an extraction worker to the service (services/ingest/sandbox.py) with its reason.
        return (type(self), (str(self), self.reason))


@dataclass
class Section:
    """A run of text under one heading path (the parent of the chunks cut from it)."""

    heading_path: list[str]
    text: str
    # Offset of `text` in the document's extracted text.
    start: int = 0


@dataclass
class Extracted:
    title: str
    sections: list[Section] = field(default_factory=list)
    # Format characters (zero-width, bidirectional overrides) removed from the text: worth a reviewer's look.
    invisible_removed: int = 0

    @property
    def text(self) -> str:
        """The whole extracted text; section offsets point into it."""
        return "\n\n".join(section.text for section in self.sections)


def resolve_type(content_type: str, filename: str) -> str:
    """The canonical MIME type, from the declared one (parameters dropped) or else the filename."""
    declared = content_type.split(";")[0].strip().lower()
    declared = _ALIASES.get(declared, declared)
    if declared and declared not in ("application/octet-stream", "binary/octet-stream"):
        return declared
    lowered = filename.lower()
    for extension, mime in _EXTENSIONS.items():
        if lowered.endswith(extension):
            return mime
    guessed, _ = mimetypes.guess_type(filename)
    return _ALIASES.get(guessed or "", guessed or "")


def _decode(content: bytes) -> str:
    encoding = "utf-16" if content[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        return content.decode(encoding)
    except UnicodeDecodeError as exc:
        raise Unreadable(f"the file is not valid {encoding} text (byte {exc.start})") from exc


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLANK_RUN = re.compile(r"\n{3,}")
# Unicode's format characters (category Cf): zero-width spaces and joiners, bidirectional overrides and isolates,
# soft hyphens, tags. They can hide text from a reviewer, or reorder what one sees, without changing what a model
# reads; none of them carries meaning a search needs.
_INVISIBLE = dict.fromkeys(c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf")


def invisible_count(text: str) -> int:
    """How many format characters `text` holds."""
    return len(text) - len(text.translate(_INVISIBLE))


def _clean(text: str) -> str:
    """NFC-normalized text without control or format characters, with unified line ends and no blank runs."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _BLANK_RUN.sub("\n\n", "\n".join(line.rstrip() for line in text.split("\n"))).strip()


def _plain(text: str, title: str) -> Extracted:
    return Extracted(title=title, sections=[Section([], text)])


def _markdown(text: str, title: str) -> Extracted:
    from markdown_it import MarkdownIt

    lines = text.split("\n")
    tokens = MarkdownIt("commonmark").parse(text)
    # (line where the heading starts, line after it, level, heading text)
    headings = [
        (tok.map[0], tok.map[1], int(tok.tag[1]), tokens[i + 1].content.strip())
        for i, tok in enumerate(tokens)
        if tok.type == "heading_open" and tok.map
    ]
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    preamble_end = headings[0][0] if headings else len(lines)
    preamble = "\n".join(lines[:preamble_end]).strip()
    if preamble:
        sections.append(Section([], preamble))
    for i, (_start, body_start, level, heading) in enumerate(headings):
        path = [(lvl, name) for lvl, name in path if lvl < level] + [(level, heading)]
        body_end = headings[i + 1][0] if i + 1 < len(headings) else len(lines)
        body = "\n".join(lines[body_start:body_end]).strip()
        if body:
            sections.append(Section([name for _, name in path], body))
    first_h1 = next((h for _, _, level, h in headings if level == 1), "")
    return Extracted(title=title or first_h1, sections=sections)


_BLOCKS = "h1,h2,h3,h4,h5,h6,p,li,pre,blockquote,td,th,dt,dd,figcaption"
_BLOCK_TAGS = frozenset(_BLOCKS.split(","))
MAX_HTML_DEPTH = 256


def _html(text: str, title: str) -> Extracted:
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    tree = HTMLParser(text)
    for node in tree.css("script,style,noscript,template,nav,header,footer"):
        node.decompose()
    page_title = (tree.css_first("title").text(strip=True) if tree.css_first("title") else "") or ""
    root = tree.body or tree.root
    if root is None:
        return Extracted(title=title or page_title)
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    paragraphs: list[str] = []

    def close_section() -> None:
        if paragraphs:
            sections.append(Section([name for _, name in path], "\n\n".join(paragraphs)))
            paragraphs.clear()

    for node in root.css(_BLOCKS):
        # A block inside another block (a <p> in an <li>) was already taken with its parent.
        parent, nested, depth = node.parent, False, 0
        while parent is not None:
            if parent.tag in _BLOCK_TAGS:
                nested = True
                break
            parent, depth = parent.parent, depth + 1
            if depth > MAX_HTML_DEPTH:
                # Real pages nest a few dozen deep; thousands is an attack on this walk (quadratic in the depth).
                raise Unreadable(f"the HTML is nested more than {MAX_HTML_DEPTH} elements deep", reason="too_complex")
        if nested:
            continue
        content = node.text(separator=" ", strip=True)
        if not content:
            continue
        if node.tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            close_section()
            level = int(node.tag[1])
            path = [(lvl, name) for lvl, name in path if lvl < level] + [(level, content)]
        else:
            paragraphs.append(content)
    close_section()
    if not sections:
        loose = root.text(separator=" ", strip=True)
        if loose:
            sections.append(Section([], loose))
    first_h1 = tree.css_first("h1")
    return Extracted(title=title or page_title or (first_h1.text(strip=True) if first_h1 else ""), sections=sections)


def _pdf(content: bytes, title: str, max_pages: int, max_chars: int) -> Extracted:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            raise Unreadable("the PDF is encrypted")
        if len(reader.pages) > max_pages:
            raise Unreadable(f"the PDF has {len(reader.pages)} pages; the limit is {max_pages}", reason="too_large")
        pages, chars = [], 0
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            chars += len(pages[-1])
            # Checked page by page: pages sharing one huge content stream (a page bomb) stop here, not at the end.
            if chars > max_chars:
                raise Unreadable(
                    f"the PDF's text passes {max_chars} characters by page {len(pages)}", reason="too_large"
                )
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except Unreadable:
        raise
    except Exception as exc:
        raise Unreadable(f"the PDF could not be read: {exc}") from exc
    sections = [Section([f"Page {n}"], _clean(text)) for n, text in enumerate(pages, start=1) if _clean(text)]
    return Extracted(title=title or meta_title, sections=sections, invisible_removed=sum(map(invisible_count, pages)))


def extract(
    content: bytes, content_type: str, title: str = "", max_pages: int = 2_000, max_chars: int = 5_000_000
) -> Extracted:
    """Structured text from a document's bytes. Raises UnsupportedType or Unreadable with the reason, also when the
    document has more than `max_pages` pages or more than `max_chars` characters of text."""
    if content_type not in SUPPORTED_TYPES:
        raise UnsupportedType(
            f"content type {content_type or 'unknown'!r} is not supported; send one of: {', '.join(SUPPORTED_TYPES)}"
        )
    if content_type == PDF:
        if not content.startswith(b"%PDF"):
            raise Unreadable("the file is not a PDF (it does not start with %PDF)")
        document = _pdf(content, title, max_pages, max_chars)
    else:
        raw = _decode(content)
        if "\x00" in raw:
            raise Unreadable("the file holds binary data, not text")
        if len(raw) > max_chars:
            raise Unreadable(f"the text is {len(raw)} characters; the limit is {max_chars}", reason="too_large")
        document = {MARKDOWN: _markdown, HTML: _html}.get(content_type, _plain)(_clean(raw), title)
        document.invisible_removed = invisible_count(raw)
    document.sections = [Section(s.heading_path, _clean(s.text)) for s in document.sections if _clean(s.text)]
    if not document.sections:
        raise Unreadable("no text could be extracted from the document")
    if (chars := sum(len(section.text) for section in document.sections)) > max_chars:
        raise Unreadable(f"the extracted text is {chars} characters; the limit is {max_chars}", reason="too_large")
    offset = 0
    for section in document.sections:
        section.start = offset
        offset += len(section.text) + 2
    return document
