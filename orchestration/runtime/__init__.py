"""Composition roots: settings, logging, worker wiring, embedded Temporal.

The only place that names concrete adapters."""
