"""Generated gRPC code for ragmesh.ingest.v1 (make proto)."""
