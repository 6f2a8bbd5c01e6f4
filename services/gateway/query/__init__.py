"""The query path, one concern a module, free of FastAPI (only `cache` talks to Redis):

- `questions` cleans the question; `filters` checks the caller's filters; `planning` adds self-query;
- `retrieval` embeds, searches, re-ranks and grows hits to their sections; `compression` cuts the context to the
  sentences that bear on the question, within the token budget; `evidence` runs those stages in order;
- `generation` calls the generator (degrading to retrieval-only); `citations` maps the answer to its passages;
- `cache` holds corpus versions and the answer cache; `service` answers, streams and searches; `verify` checks
  claims. Errors are the project's own (`services.runtime.errors`); the gateway's `errors.py` picks the status.
"""
