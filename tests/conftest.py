"""Shared fixtures. Azurite is real: a session fixture starts it on a free loopback port."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from sandbox.azurite import Azurite, AzuriteError, start_azurite


# -- issue 23: no product flow leaves a page unread ---------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    import os
    import tempfile

    config.addinivalue_line("markers", "abandons_pages: the test stops a paged read on purpose (a crash mid-page); "
                                       "links it leaves unfollowed are not held against the product")
    # Every process the suite starts, and what they start, carries this tag: the session's end counts those
    # still running (issue 23: a clean-clone run once left six Azurites behind).
    os.environ.setdefault(PROCESS_TAG, uuid.uuid4().hex)
    # Every simulator of the suite (in-process, and the local systems it starts) serves pages of at most this
    # many rows, as Graph may: every paged read of every product flow meets a second page.
    os.environ.setdefault("SANDBOX_MAX_PAGE", "7")
    # The local systems keep Graph's real-time buckets, and background work at its shipped 0.6 share of the reports
    # bucket would make every sweep, bulk run and plan against them 1.7x slower. The suite tests what the flows do;
    # the lanes' pacing has its own tests (tests/graph/test_lanes.py, which set the share they test) and
    # benchmark (bench.lanes, whose figures are in bench/RESULTS.md).
    os.environ.setdefault("GRAPH_BACKGROUND_SHARE", "1")
    if not os.environ.get("SANDBOX_WIRELOG"):  # what the product sent, for Microsoft's SDKs to judge
        handle, path = tempfile.mkstemp(prefix="mfaops-wire-", suffix=".jsonl")
        os.close(handle)
        os.environ["SANDBOX_WIRELOG"] = path
    if not os.environ.get("SANDBOX_PAGELOG"):  # local systems the tests start inherit it and log there too
        handle, path = tempfile.mkstemp(prefix="mfaops-pages-", suffix=".jsonl")
        os.close(handle)
        os.environ["SANDBOX_PAGELOG"] = path


@pytest.fixture(autouse=True)
def _page_exemption(request: pytest.FixtureRequest) -> Iterator[None]:
    from sandbox.graph.pagelog import PAGES

    before = set(PAGES.issued)
    yield
    if request.node.get_closest_marker("abandons_pages"):
        PAGES.forget(set(PAGES.unfollowed()) - before)


def _unfollowed_pages() -> tuple[int, int, dict[str, str]]:
    """In-process links and those a local system's simulator appended to SANDBOX_PAGELOG, together."""
    import os
    from pathlib import Path

    from sandbox.graph.pagelog import PAGES, PageLog

    seen = PageLog(issued=dict(PAGES.issued), fetched=set(PAGES.fetched), exempt=set(PAGES.exempt))
    path = os.environ.get("SANDBOX_PAGELOG")
    if path and Path(path).exists():
        seen.merge_file(Path(path))
    unfollowed = seen.unfollowed()
    owed = len(set(seen.issued) - seen.exempt)
    return owed, owed - len(unfollowed), unfollowed


PROCESS_TAG = "MFAOPS_TEST_SESSION"


def _sdk_judgement() -> tuple[int, int, list[str]]:
    """Every distinct request the product sent in the session, and every JSON answer shape the simulator gave,
    judged by Microsoft's SDKs (tests/graph/sdk_judge.py): (requests, answers, mismatches)."""
    import json
    import os
    from pathlib import Path

    path = os.environ.get("SANDBOX_WIRELOG")
    if not path or not Path(path).exists() or not Path(path).stat().st_size:
        return 0, 0, []
    from tests.graph.sdk_judge import (
        judge_collection,
        judge_envelope,
        judge_error,
        judge_request,
        judge_response,
    )

    requests: set[tuple[str, ...]] = set()
    answers = 0
    problems: list[str] = []
    for line in Path(path).read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        where = f"{row['method']} /{row['version']}{row['path']} ({row['status']})"
        if row.get("kind") == "batch":  # the $batch envelope, or the error that refused it whole
            answers += 1
            failed = int(row["status"]) >= 400
            problems += (judge_error if failed else judge_envelope)(row.get("body"), where)
            continue
        key = (row["method"], row["version"], row["path"], ",".join(row["query"]))
        if int(row["status"]) >= 400 and row.get("body") is not None:
            answers += 1
            problems += judge_error(row["body"], where)
        if key not in requests:
            requests.add(key)
            verdict = judge_request(row["method"], row["version"], row["path"], row["query"])
            if not verdict.ok:
                problems.append(verdict.why)
        if 200 <= int(row["status"]) < 300 and isinstance(row.get("body"), dict):
            answers += 1
            problems += judge_response(row["method"], row["version"], row["path"], row["body"])
            problems += judge_collection(row["body"], where)
    return len(requests), answers, sorted(set(problems))


def tagged_processes() -> list[tuple[int, str]]:
    """(pid, command) of every live process started under this session's tag, but this one."""
    import os
    from pathlib import Path

    wanted = f"{PROCESS_TAG}={os.environ.get(PROCESS_TAG, '')}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if wanted not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
            if stat.rsplit(")", 1)[-1].split()[0] == "Z":
                continue  # a zombie has ended; only its parent's wait is missing
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
        except OSError:
            continue
        found.append((int(entry.name), command))
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import time

    issued, followed, unfollowed = _unfollowed_pages()
    session.config._mfaops_pages = (issued, followed, unfollowed)  # type: ignore[attr-defined]
    if unfollowed and exitstatus == 0:
        session.exitstatus = 1
    judged = _sdk_judgement()
    session.config._mfaops_judged = judged  # type: ignore[attr-defined]
    if judged[2] and session.exitstatus == 0:
        session.exitstatus = 1
    deadline = time.monotonic() + 10  # a death signal is delivered, not instant
    left = tagged_processes()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = tagged_processes()
    session.config._mfaops_left = left  # type: ignore[attr-defined]
    if left and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: object, exitstatus: int, config: pytest.Config) -> None:
    issued, followed, unfollowed = getattr(config, "_mfaops_pages", (0, 0, {}))
    write = terminalreporter.write_line  # type: ignore[attr-defined]
    write(f"paged reads: {issued} nextLinks handed to product flows, {followed} followed, "
          f"{len(unfollowed)} left unfollowed")
    for key, path in sorted(unfollowed.items())[:50]:
        write(f"  UNFOLLOWED {path}: {key}")
    requests, answers, problems = getattr(config, "_mfaops_judged", (0, 0, []))
    write(f"SDK judge: {requests} distinct requests and {answers} answer shapes judged by msgraph-sdk and "
          f"msgraph-beta-sdk, {len(problems)} mismatches")
    for problem in problems[:60]:
        write(f"  NOT GRAPH {problem}")
    left = getattr(config, "_mfaops_left", [])
    write(f"processes left running by the suite: {len(left)}")
    for pid, command in left[:20]:
        write(f"  LEFT RUNNING {pid}: {command}")


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    try:
        server = start_azurite()
    except AzuriteError as exc:
        # Fail, never skip: a suite that quietly drops its storage tests proves nothing.
        pytest.fail(f"cannot start Azurite: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def table_names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return f"jobs{suffix}", f"jobsbyuser{suffix}"


@pytest.fixture
async def job_store(azurite: Azurite, table_names: tuple[str, str]) -> AsyncIterator[object]:
    from azure.data.tables.aio import TableServiceClient

    from shared.jobs.table_store import TableJobStore

    service = TableServiceClient.from_connection_string(azurite.connection_string)
    store = TableJobStore(service, *table_names, update_retries=20, job_id_key=b"test-job-id-key")
    yield store
    await service.close()


DEMO_TENANT = "sandbox/tenants/demo.json"
GRAPH_BASE = "http://graph.sandbox"


@pytest.fixture
def graph_sim() -> object:
    """A fresh demo tenant. Throttling is off here; tests of throttling turn it on."""
    from pathlib import Path

    from sandbox.graph import GraphSimulator, load_tenant
    from sandbox.graph.throttle import Throttle

    root = Path(__file__).resolve().parent.parent
    return GraphSimulator(load_tenant(root / DEMO_TENANT), throttle=Throttle(enabled=False))


@pytest.fixture
async def graph_http(graph_sim: object) -> AsyncIterator[object]:
    import httpx

    from sandbox.graph import build_app

    transport = httpx.ASGITransport(app=build_app(graph_sim))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=GRAPH_BASE) as client:
        yield client


def make_gateway(sim: object, **settings: str) -> object:
    import httpx

    from sandbox.graph import build_app
    from shared.graph.client import build_graph_client
    from shared.graph.sdk_gateway import SdkGraphGateway
    from shared.settings import load_settings

    config = load_settings({"GRAPH_BASE_URL": GRAPH_BASE, **settings})
    client = build_graph_client(config, transport=httpx.ASGITransport(app=build_app(sim)))  # type: ignore[arg-type]
    return SdkGraphGateway(client, retry_after_cap_s=config.graph_retry_after_cap_s,
                           max_retries=config.graph_max_retries)


@pytest.fixture
def gateway(graph_sim: object) -> object:
    return make_gateway(graph_sim)
