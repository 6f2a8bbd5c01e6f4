"""What the services that keep state (gateway, ingest) keep it in, the same way in each: SQL records (engines,
sessions, migrations) and the object store of artifacts (a local folder, or S3)."""
