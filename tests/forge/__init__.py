"""Tests of the forge: pushing fix branches and opening pull requests."""
