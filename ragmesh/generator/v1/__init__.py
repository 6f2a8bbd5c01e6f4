"""Generated from proto/ragmesh/generator/v1 by make proto; do not edit."""
