"""The egress proxy: an allowlist of hosts (package registries) a sandbox may reach."""
