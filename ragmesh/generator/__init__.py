"""Generated gRPC code for ragmesh.generator.v1 (make proto)."""
