"""Generated gRPC code for ragmesh.retriever.v1 (make proto)."""
