"""Tests for what both proxies share: the per-task route registry and its sockets."""
