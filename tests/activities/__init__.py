"""Activities on real parts without Docker: the in-memory sandbox stands in for the container."""
