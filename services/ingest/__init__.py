"""The ingest service: documents in, indexed chunks out, with a catalogue and an audit log."""
