"""Extraction keeps structure, and refuses what it cannot read with the reason."""

import pytest

from services.ingest.chunking import chunk_document
from services.ingest.extract import Unreadable, UnsupportedType, extract, resolve_type


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with real text, assembled with correct xref offsets."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_markdown_headings_become_section_paths():
    doc = extract(b"Intro.\n\n# Guide\n\nRead me.\n\n## Install\n\nRun it.\n\n# FAQ\n\nWhy?\n", "text/markdown")
    assert doc.title == "Guide"
    assert [(s.heading_path, s.text) for s in doc.sections] == [
        ([], "Intro."),
        (["Guide"], "Read me."),
        (["Guide", "Install"], "Run it."),
        (["FAQ"], "Why?"),
    ]


def test_html_drops_scripts_and_navigation_and_keeps_headings():
    html = (
        b"<html><head><title>Page</title><script>var x;</script></head><body><nav>Home</nav>"
        b"<h1>A</h1><p>one</p><ul><li><p>two</p></li></ul><h2>B</h2><p>three</p></body></html>"
    )
    doc = extract(html, "text/html")
    assert doc.title == "Page"
    assert [(s.heading_path, s.text) for s in doc.sections] == [(["A"], "one\n\ntwo"), (["A", "B"], "three")]


def test_pdf_text_is_extracted_per_page():
    doc = extract(minimal_pdf("Hello from a PDF"), "application/pdf")
    assert doc.sections[0].heading_path == ["Page 1"] and "Hello from a PDF" in doc.sections[0].text


@pytest.mark.parametrize(
    ("content", "content_type", "error", "message"),
    [
        (b"\x89PNG\r\n", "image/png", UnsupportedType, "'image/png' is not supported"),
        (b"   \n\n  ", "text/plain", Unreadable, "no text could be extracted"),
        (b"\xff\xfe\xfa\x00bad", "text/plain", Unreadable, "not valid"),
        (b"not a pdf", "application/pdf", Unreadable, "not a PDF"),
        (b"%PDF-1.4 garbage", "application/pdf", Unreadable, "the PDF could not be read"),
        (b"<html><body><script>x</script></body></html>", "text/html", Unreadable, "no text could be extracted"),
    ],
)
def test_unusable_documents_are_refused_with_the_reason(content, content_type, error, message):
    with pytest.raises(error) as refused:
        extract(content, content_type)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("declared", "filename", "resolved"),
    [
        ("", "notes.md", "text/markdown"),
        ("application/octet-stream", "page.HTML", "text/html"),
        ("text/plain; charset=utf-8", "x.bin", "text/plain"),
        ("", "paper.pdf", "application/pdf"),
        ("text/x-markdown", "", "text/markdown"),
    ],
)
def test_content_type_comes_from_the_header_or_the_filename(declared, filename, resolved):
    assert resolve_type(declared, filename) == resolved


def test_chunks_stay_within_their_section_and_size_and_point_back_into_the_text():
    body = " ".join(f"Sentence number {i} says something specific." for i in range(60))
    doc = extract(f"# Alpha\n\n{body}\n\n## Beta\n\nShort tail.\n".encode(), "text/markdown")
    chunks = chunk_document(doc, max_chars=400)
    assert len(chunks) > 3 and all(len(c.text) <= 400 for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert chunks[-1].heading_path == ["Alpha", "Beta"] and chunks[-1].text == "Short tail."
    assert {c.section_id for c in chunks[:-1]} == {"s0"}
    for chunk in chunks:
        assert doc.text[chunk.char_start : chunk.char_end].strip() == chunk.text
    # Every sentence lands in exactly one chunk.
    joined = " ".join(c.text for c in chunks if c.section_id == "s0")
    assert all(joined.count(f"Sentence number {i} says") == 1 for i in range(60))
    assert chunks[0].embedding_text("Doc") == f"Doc > Alpha\n{chunks[0].text}"
