"""What front ends import to act on tasks: the gateway to Temporal, task building,
the task index."""
