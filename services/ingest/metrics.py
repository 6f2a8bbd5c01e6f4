"""The ingest service's metrics: documents by outcome, and how many wait in quarantine."""

from prometheus_client import Counter, Gauge

DOCUMENTS = Counter(
    "ragmesh_ingest_documents",
    "Documents ingested, by outcome: created, updated, unchanged, quarantined, failed.",
    ["state"],
)
QUARANTINED = Gauge("ragmesh_ingest_quarantined_documents", "Documents held in quarantine (every tenant).")
IN_PROGRESS = Gauge("ragmesh_ingest_in_progress_documents", "Documents this replica is ingesting now (the backlog).")
