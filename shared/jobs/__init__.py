"""The job record: what mfaops did, to whom, on whose request, and how it ended."""

from shared.jobs.model import Job, JobKind, JobState, Source, Step, Target
from shared.jobs.store import JobStore

__all__ = ["Job", "JobKind", "JobState", "JobStore", "Source", "Step", "Target"]
