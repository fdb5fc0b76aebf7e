"""`python -m sandbox worker`: a reset worker in a process of its own, receiving from the local host's queue with
a peek-lock (as the Functions host receives from Service Bus), running the real `reset_worker` entry point
against the local system, completing or abandoning. Killed mid-job, its lock expires and another takes over."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx

from shared.queue.port import QueueMessage


async def work(*, lock_s: float, idle_exit_s: float | None = None) -> int:
    import function_app
    from cli.target import LOCAL_FILE, build_container
    from sandbox.localhost import call_queue_function, queue_functions
    from shared.bootstrap import use_container

    container = build_container(local=True)
    use_container(container)
    settings = container.settings
    base = json.loads(LOCAL_FILE.read_text())["MFAOPS_LOCAL_QUEUE_URL"]
    functions = queue_functions(function_app.app, lambda name: str(getattr(settings, next(
        f for f, i in type(settings).model_fields.items() if i.alias == name))))
    worker = functions[settings.reset_queue]
    idle = 0.0
    async with httpx.AsyncClient(timeout=30.0) as client:
        while True:
            got = (await client.post(f"{base}/receive", json={"lock_s": lock_s})).json()
            if got.get("message") is None:
                await asyncio.sleep(0.1)
                idle += 0.1
                if idle_exit_s is not None and idle >= idle_exit_s:
                    await container.close()
                    return 0
                continue
            idle = 0.0
            raw = got["message"]
            message = QueueMessage(body=base64.b64decode(raw["body"]), message_id=raw["message_id"],
                                   session_id=raw["session_id"], correlation_id=raw["correlation_id"],
                                   delivery_count=int(raw["delivery_count"]))
            try:
                await call_queue_function(worker, message)
                outcome = "complete"
            except Exception:  # abandon: the queue redelivers, as Service Bus does
                outcome = "abandon"
            await client.post(f"{base}/settle", json={"lock_token": got["lock_token"], "outcome": outcome})


def main(lock_s: float, idle_exit_s: float | None) -> int:
    return asyncio.run(work(lock_s=lock_s, idle_exit_s=idle_exit_s))
