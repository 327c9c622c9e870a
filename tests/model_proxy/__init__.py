"""Tests for the per-task model proxy."""
