"""Tests for the per-task egress proxy."""
