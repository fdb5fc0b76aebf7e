"""The Graph simulator's core: routing, errors, latency, faults, throttling, the call log and $batch."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.graph import handlers_auth, handlers_directory, handlers_policy, handlers_sandbox, permissions, wirelog
from sandbox.graph.router import Ctx, Faults, GraphError, Handler, Reply, Router

__all__ = ["Ctx", "GraphError", "GraphSimulator", "Reply", "build_app"]
from sandbox.graph.odata import ODataError
from sandbox.graph.pagelog import PAGES, page_key
from sandbox.graph.tenant import Tenant
from sandbox.graph.throttle import Throttle

MAX_BATCH = 20


class GraphSimulator:
    def __init__(self, tenant: Tenant, *, latency_ms: float = 0.0, throttle: Throttle | None = None) -> None:
        self.tenant = tenant
        self.latency_ms = latency_ms
        self.throttle = throttle or Throttle(tenant.raw.get("throttle", {}).get("limits"),
                                             enabled=tenant.raw.get("throttle", {}).get("enabled", True),
                                             users=len(tenant.users),
                                             time_scale=float(tenant.raw.get("throttle", {}).get("time_scale", 1)))
        self.faults = Faults()
        self.rng = random.Random(self.faults.seed)
        self.calls: list[dict[str, Any]] = []
        self.last_authorization = ""  # what the last Graph request carried, for tests of the token path
        self.request_headers: dict[str, str] = {}  # of the request (or batch item) being answered
        self.from_product = False  # the request came through msgraph-sdk's adapter (pagelog.py)
        self.page_id = uuid.uuid4().hex[:8]  # this simulator's links are told apart from another's
        self.max_page = int(os.environ.get("SANDBOX_MAX_PAGE", "0") or 0)  # 0: Graph's page sizes as asked
        self.issued_tap_values: list[str] = []
        self.router = Router()
        for module in (handlers_directory, handlers_auth, handlers_policy, handlers_sandbox):
            module.register(self.router)
        self.routes, self.control = self.router.routes, self.router.control
        self.route_permissions = self.router.route_permissions

    def add(self, method: str, pattern: str, handler: Handler, versions: tuple[str, ...] = ("v1.0", "beta"),
            control: bool = False) -> None:
        self.router.add(method, pattern, handler, versions, control)

    # -- dispatch -------------------------------------------------------------------------------------
    def dispatch(self, method: str, version: str, path: str, query: dict[str, str], body: Any,
                 base_url: str) -> Reply:
        ctx = Ctx(self, method, version, path, query, body, base_url)
        if self.from_product and "$skiptoken" in query:
            PAGES.fetch(self.page_id + page_key(version, path, query))
        allowed_methods = []
        for route_method, regex, handler, versions in self.routes:
            match = regex.match(path)
            if not match or version not in versions:
                continue
            if route_method != method:
                allowed_methods.append(route_method)
                continue
            granted = self.tenant.app_roles
            if granted is not None and not granted & set(self.route_permissions[(route_method, id(regex))]):
                return self.error(403, permissions.DENIED_CODE, permissions.DENIED_MESSAGE)
            try:
                result = handler(ctx, **match.groupdict())
            except GraphError as err:
                return self.error(err.status, err.code, err.message)
            except ODataError as err:
                return self.error(400, "BadRequest", str(err))
            return result if isinstance(result, Reply) else Reply(200, result)
        if allowed_methods:
            return self.error(405, "Request_BadRequest",
                              f"The request method '{method}' is not allowed on this resource.")
        return self.error(400, "BadRequest", f"Resource not found for the segment '{path.strip('/').split('/')[0]}'.")

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
        request_id = str(uuid.uuid4())
        body = {"error": {"code": code, "message": message, "innerError": {
            "date": self.tenant.clock.now().strftime("%Y-%m-%dT%H:%M:%S"), "request-id": request_id,
            "client-request-id": request_id}}}
        return Reply(status, body, {"request-id": request_id, **(headers or {})})

    def guarded(self, method: str, version: str, path: str, query: dict[str, str], body: Any, base_url: str,
                *, batch: bool = False, started: float | None = None) -> Reply:
        """One Graph request with what surrounds it in the real service: faults, throttling, the call log."""
        reply = self._faulted_or_throttled(method, path, query=query)
        if reply is None:
            reply = self.dispatch(method, version, path, query, body, base_url)
        entry = {"method": method, "path": f"/{version}{path}", "status": reply.status,
                 "at": self.tenant.clock.now().isoformat()}
        if batch:
            entry["batch"] = True
        if started is not None:  # wall-clock span of a request that crossed the wire (benchmarks overlap them)
            entry.update(started=started, ended=time.monotonic())
            reply.log = entry
        self.calls.append(entry)
        if self.from_product:
            wirelog.record(method, version, path, query, reply.status, reply.body)
        return reply

    def _faulted_or_throttled(self, method: str, path: str, *, throttle: bool = True,
                              query: dict[str, str] | None = None) -> Reply | None:
        roll = self.rng.random()
        f = self.faults
        edges = [("429", f.rate_429), ("429_bare", f.rate_429_bare), ("503", f.rate_503), ("504", f.rate_504)]
        for kind, rate in edges:
            if roll < rate:
                f.count(kind)
                if kind == "429":
                    return self.error(429, "TooManyRequests", "Too many requests (injected).", {"Retry-After": "1"})
                if kind == "429_bare":
                    return self.error(429, "TooManyRequests", "Too many requests.")
                if kind == "503":
                    return self.error(503, "serviceNotAvailable", "Service unavailable (injected).")
                return self.error(504, "gatewayTimeout", "The gateway timed out (injected).")
            roll -= rate
        if not throttle:
            return None
        allowed, retry_after = self.throttle.check(path, method, query)
        if not allowed:
            headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
            return self.error(429, "TooManyRequests",
                              "Too many requests. Please retry later." if retry_after is not None else
                              "Too many requests.", headers)
        return None

    # -- $batch ---------------------------------------------------------------------------------------
    def batch(self, version: str, body: Any, base_url: str) -> Reply:
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return self.error(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > MAX_BATCH:
            return self.error(400, "BadRequest", f"Number of requests in batch exceeds {MAX_BATCH}.")
        ids = [str(r.get("id", "")) for r in requests]
        if len(set(ids)) != len(ids) or "" in ids:
            return self.error(400, "BadRequest", "Batch request ids must be unique and non-empty.")
        shape_error = _dependency_shape_error(requests)
        if shape_error:
            return self.error(400, "BadRequest", shape_error)
        status_by_id: dict[str, int] = {}
        responses = []
        for item in requests:
            rid = str(item["id"])
            depends = item.get("dependsOn") or []
            unknown = [d for d in depends if d not in status_by_id]
            if unknown:
                return self.error(400, "BadRequest", f"Request {rid} depends on unknown or later request(s) "
                                  f"{unknown}.")
            inner_headers = item.get("headers") if isinstance(item.get("headers"), dict) else {}
            if any(status_by_id[d] >= 400 for d in depends):
                reply = self.error(424, "FailedDependency", "Failed dependency.")
            elif item.get("body") is not None and not any(str(k).lower() == "content-type" for k in inner_headers):
                # json-batching: "headers ... If a body is specified, a Content-Type header must be included";
                # the item is refused on its own (the wording is the simulator's).
                reply = self.error(400, "BadRequest", "Content-Type header must be specified when a body is "
                                   "present in a batch request.")
            else:
                url = urlsplit(str(item.get("url", "")))
                path = "/" + unquote(url.path).lstrip("/")
                inner = item.get("headers") if isinstance(item.get("headers"), dict) else {}
                self.request_headers = {str(k).lower(): str(v) for k, v in inner.items()}
                reply = self.guarded(str(item.get("method", "GET")).upper(), version, path,
                                     dict(parse_qsl(url.query)), item.get("body"), base_url, batch=True)
            status_by_id[rid] = reply.status
            responses.append({"id": rid, "status": reply.status,
                              "headers": {"Content-Type": "application/json", **reply.headers},
                              **({"body": reply.body} if reply.body is not None else {})})
        return Reply(200, {"responses": responses})

    # -- ASGI -----------------------------------------------------------------------------------------
    async def asgi_endpoint(self, request: Request) -> Response:
        # scope["path"] is percent-decoded, as Graph decodes a UPN like 'guest%23EXT%23@...' once.
        path, root = request.scope["path"], request.scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            # Graph answers a body it cannot parse with 400 and the parser's complaint, not 415 (which means the
            # wrong content type): "Unable to read JSON request payload. Please ensure Content-Type header is
            # set and payload is of valid JSON format." (seen from Graph; msgraph-sdk issues quote it).
            where = f" ({exc.msg} at line {exc.lineno} column {exc.colno})" if isinstance(exc, json.JSONDecodeError) \
                else ""
            return _response(self.error(400, "BadRequest", "Unable to read JSON request payload. Please ensure "
                                        "Content-Type header is set and payload is of valid JSON format." + where))
        # The mount point is part of every link the simulator writes (nextLink), in-process and over loopback.
        root = str(request.scope.get("root_path", "")).rstrip("/")
        base_url = str(request.base_url).rstrip("/")
        if root and not base_url.endswith(root):
            base_url += root
        query = dict(request.query_params)
        started = time.monotonic()
        self.from_product = "kiota" in request.headers.get("user-agent", "")
        if path.startswith("/_sandbox/"):
            return _response(self.control_dispatch(request.method, path[len("/_sandbox"):], query, body))
        version, _, rest = path.lstrip("/").partition("/")
        if version not in {"v1.0", "beta"}:
            return _response(self.error(400, "BadRequest", "Invalid version."))
        if rest == "$batch" and request.method == "POST":
            # The envelope costs nothing: Graph evaluates each inner request against the limits on its own.
            outer = self._faulted_or_throttled("POST", "/$batch", throttle=False)
            reply = outer or self.batch(version, body, base_url)
            if self.from_product:
                wirelog.record("POST", version, "/$batch", {}, reply.status, reply.body, kind="batch")
            reply.log = {"method": "POST", "path": f"/{version}/$batch", "status": reply.status,
                         "at": self.tenant.clock.now().isoformat(), "started": started}
            self.calls.append(reply.log)
        else:
            self.last_authorization = request.headers.get("authorization", "")
            self.request_headers = {k.lower(): v for k, v in request.headers.items()}
            reply = self.guarded(request.method, version, "/" + rest, query, body, base_url, started=started)
        # Graph counts a request against its buckets when it arrives; the latency is the service's own time
        # before it answers (so the charge is at arrival, as a client that sent it a moment ago expects).
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        if reply.log is not None:
            reply.log["ended"] = time.monotonic()
        return _response(reply)

    def control_dispatch(self, method: str, path: str, query: dict[str, str], body: Any) -> Reply:
        for route_method, regex, handler, _ in self.control:
            match = regex.match(path)
            if match and route_method == method:
                try:
                    result = handler(self, body or {}, query, **match.groupdict())
                except GraphError as err:
                    return self.error(err.status, err.code, err.message)
                return result if isinstance(result, Reply) else Reply(200, result)
        return self.error(404, "NotFound", f"no sandbox control at {method} {path}")


BATCH_SHAPE_MESSAGE = "Batch should be either fully sequential or fully parallel"


def _dependency_shape_error(requests: list[Any]) -> str:
    """Graph's JSON batching known issue: a request may depend on at most one other, and the batch must be fully
    parallel (no dependsOn), fully sequential (one chain) or all depending on the same one request; anything else
    is 400 "Batch should be either fully sequential or fully parallel" (learn.microsoft.com/graph/known-issues,
    "JSON batching": "Sequencing of requests with the dependsOn property ... is only supported for fully
    sequential or fully parallel"; confirmed by a maintainer in microsoftgraph/microsoft-graph-docs issue 11924)."""
    deps: list[list[str]] = []
    for item in requests:
        raw = item.get("dependsOn") if isinstance(item, dict) else None
        depends = [str(d) for d in raw] if isinstance(raw, list) else []
        if len(depends) > 1:
            return BATCH_SHAPE_MESSAGE
        deps.append(depends)
    if not any(deps):
        return ""
    ids = [str(r.get("id", "")) for r in requests]
    sequential = not deps[0] and all(deps[i] == [ids[i - 1]] for i in range(1, len(ids)))
    roots = [ids[i] for i, d in enumerate(deps) if not d]
    fan_out = len(roots) == 1 and all(d == roots for d in deps if d)
    return "" if sequential or fan_out else BATCH_SHAPE_MESSAGE


def _response(reply: Reply) -> Response:
    if reply.body is None:
        return Response(status_code=reply.status, headers=reply.headers)
    return Response(json.dumps(reply.body), status_code=reply.status, headers=reply.headers,
                    media_type="application/json")


def build_app(sim: GraphSimulator) -> Any:
    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    inner = Starlette(routes=[Route("/{path:path}", sim.asgi_endpoint, methods=methods)])

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        graph_call = scope["type"] == "http" and "/_sandbox/" not in scope["path"]
        if graph_call and sim.faults.rate_slow and sim.rng.random() < sim.faults.rate_slow:
            sim.faults.count("slow")
            await asyncio.sleep(sim.faults.slow_ms / 1000)
        if graph_call and sim.rng.random() < sim.faults.rate_reset:
            sim.faults.count("reset")
            # A connection reset: the response starts, then the connection drops mid-body. Over HTTP the client
            # sees the peer close the connection; in-process (httpx.ASGITransport) the error itself.
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
            raise ConnectionResetError("connection reset (injected)")
        await inner(scope, receive, send)

    return app
