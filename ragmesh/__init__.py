"""ragmesh: generated gRPC contracts and the command line."""
