"""Test doubles shipped on purpose, for the demo and for users' own tests."""
