"""The five ragmesh services and the plumbing they share."""
