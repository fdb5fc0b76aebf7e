"""The job queue port and its Service Bus adapter (an in-process twin lives in sandbox/queue.py)."""
