"""Worker-side services a sandbox reaches over its per-task unix sockets."""
