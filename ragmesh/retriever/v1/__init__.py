"""Generated from proto/ragmesh/retriever/v1 by make proto; do not edit."""
