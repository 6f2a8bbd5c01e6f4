"""SQL records, kept the same way by every service that keeps any (gateway, ingest): engines, sessions, migrations."""
