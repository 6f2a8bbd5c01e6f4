"""The ingest service's metrics: documents by outcome, how many wait in quarantine, and the batch-job backlog."""

from prometheus_client import Counter, Gauge

DOCUMENTS = Counter(
    "ragmesh_ingest_documents",
    "Documents ingested, by outcome: created, updated, unchanged, quarantined, failed.",
    ["state"],
)
QUARANTINED = Gauge("ragmesh_ingest_quarantined_documents", "Documents held in quarantine (every tenant).")
IN_PROGRESS = Gauge("ragmesh_ingest_in_progress_documents", "Documents this replica is ingesting now (the backlog).")
JOB_DOCUMENTS = Counter(
    "ragmesh_ingest_job_documents",
    "Batch-job documents this replica's workers handled, by outcome: indexed, unchanged, duplicate, quarantined, "
    "failed, or retried (sent back to wait for the embedder or vector store).",
    ["state"],
)
JOB_BACKLOG = Gauge("ragmesh_ingest_job_backlog_documents", "Batch-job documents not yet finished (every tenant).")
