"""The blast-radius limit across every flow that removes methods (reset, bulk, cleanup, containment): one
rolling-hour count in the job store, checked and taken under one lock so that concurrent flows on several
workers cannot each pass the limit by one."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from datetime import datetime, timedelta

from shared.jobs.store import JobStore

LOCK = "blast-radius"
log = logging.getLogger("mfaops.jobs")


async def admit(jobs: JobStore, key: str, *, limit: int, now: datetime, force: bool = False) -> tuple[bool, int]:
    """Take one admission for ``key`` (a job id, or job id and user for a cleanup item) if fewer than ``limit``
    were taken in the last hour, or if ``force`` (an operator approved going over). (admitted, count before)."""
    holder = uuid.uuid4().hex
    for _ in range(2000):  # the lock is held for a count and an insert: milliseconds
        if await jobs.claim(LOCK, holder, ttl_s=10) == holder:
            break
        await asyncio.sleep(0.002 + random.random() * 0.008)
    else:
        raise TimeoutError("the blast-radius lock stayed taken for 10 s")
    try:
        recent = await jobs.admissions_since(now - timedelta(hours=1))
        if recent >= limit and not force:
            return False, recent
        await jobs.admit(key, now)
        return True, recent
    finally:
        try:
            await jobs.release(LOCK, holder)
        except Exception as exc:  # the lock expires by itself (its ttl): a failed release must not hide why we stopped
            log.warning("blast-radius lock not released (%s); it expires in 10 s", type(exc).__name__)
