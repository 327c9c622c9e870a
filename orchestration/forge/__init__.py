"""Code hosts: push a fix branch and open its pull request (the forge port and its adapters)."""
