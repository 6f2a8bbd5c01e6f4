"""Generated from proto/ragmesh/embedder/v1 by make proto; do not edit."""
