"""Small documents with facts no model knows, so answers can only come from them."""

from tests.ingest.test_extract import minimal_pdf

ACME_DOCS = {
    "kestrel.md": (
        "text/markdown",
        b"# Kestrel security handbook\n\n## Key rotation\n\nAPI keys for the Kestrel platform must be rotated every "
        b"45 days by the security team. Old keys stop working 24 hours after rotation.\n\n## Incident response\n\n"
        b"Report suspected breaches to the on-call engineer through the red pager within 15 minutes.\n",
        {"source": "handbook", "tags": "security,policy", "licence": "internal"},
    ),
    "orvane.html": (
        "text/html",
        b"<html><head><title>Mount Orvane</title></head><body><h1>Mount Orvane</h1><p>Mount Orvane is a dormant "
        b"volcano in the northern range.</p><h2>History</h2><p>It last erupted in 1872, burying the village of "
        b"Tessel under ash.</p></body></html>",
        {"source": "atlas", "tags": "geology"},
    ),
    "bread.txt": (
        "text/plain",
        b"Sourdough starter care. Feed the starter twice a day with equal weights of rye flour and water, "
        b"and keep it at 24 degrees Celsius.",
        {"source": "kitchen", "tags": "food"},
    ),
    "tides.pdf": (
        "application/pdf",
        minimal_pdf("The Marrow Bay tide gauge records a spring tide range of 6.4 metres."),
        {"source": "atlas", "tags": "ocean"},
    ),
}

GLOBEX_DOCS = {
    "nightjar.md": (
        "text/markdown",
        b"# Project Nightjar\n\nThe Nightjar launch passphrase is saffron-falcon-42 and it is rotated every "
        b"45 days. API keys for Nightjar are kept in the vault.\n",
        {"source": "secret", "tags": "security"},
    ),
}
