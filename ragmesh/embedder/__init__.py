"""Generated gRPC code for ragmesh.embedder.v1 (make proto)."""
