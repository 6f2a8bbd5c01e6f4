"""Server plumbing every ragmesh service shares: settings base, gRPC host, errors, channels, metrics."""
