"""Notifier channels: where task events are rendered (Slack, the log, later the web).

The port and the fan-out live here; each implementation lives with its front end (the Slack
channel in bot/slack) and the worker is given the list.
"""
