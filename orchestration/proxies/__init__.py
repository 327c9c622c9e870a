"""Worker-side services a sandbox reaches over its per-task unix sockets.

`sockets` and `registry` give each proxy one socket per task, opened and closed the same way;
`model/` and `egress/` are the two proxies; `headers` is the hop-by-hop rule both follow.
"""
