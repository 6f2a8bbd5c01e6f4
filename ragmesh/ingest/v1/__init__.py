"""Generated from proto/ragmesh/ingest/v1 by make proto; do not edit."""
