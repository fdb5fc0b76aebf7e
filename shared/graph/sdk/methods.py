"""Authentication methods: list and delete (authentication-list-methods and each method type's delete page),
the sign-in preferences (beta signInPreferences), per-user MFA (beta authentication/requirements), the reset's
write chain in `$batch` (json-batching: dependsOn), the TAP (authentication-post-temporaryaccesspassmethods) and
the session revocation (user-revokesigninsessions)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kiota_abstractions.method import Method

from shared.errors import (
    DefaultMethodConflictError,
    GraphError,
    GraphNotFoundError,
    GraphThrottledError,
    GraphTransientError,
)
from shared.graph.errors import classify, graph_errors
from shared.graph.method_names import METHOD_TYPES
from shared.graph.port import (
    AuthMethod,
    ChainResult,
    DeleteOutcome,
    IssuedTap,
    TapRequest,
    TapValue,
)

if TYPE_CHECKING:

    pass

from shared.graph.sdk.base import _DEFAULT_FOR, BATCH_LIMIT, BETA_ONLY, SEGMENTS, SdkBase, _Op, _tap_from_json


class Methods(SdkBase):
    async def list_methods(self, user_id: str) -> list[AuthMethod]:
        async with graph_errors(f"list methods of {user_id}"):
            page = await self._client.users.by_user_id(user_id).authentication.methods.get()
        found = []
        for item in (page.value if page else None) or []:
            kind = METHOD_TYPES.get((item.odata_type or "").rsplit(".", 1)[-1], "")
            if kind == "password" or not item.id:
                continue
            label = getattr(item, "phone_type", None) or getattr(item, "display_name", None) or ""
            found.append(AuthMethod(type=kind or "unknown", id=item.id, label=str(getattr(label, "value", label)),
                                    created=getattr(item, "created_date_time", None)))
        return found

    async def default_method(self, user_id: str) -> str | None:
        async with graph_errors(f"read sign-in preferences of {user_id}"):
            prefs = await self._raw(Method.GET, f"{self._beta}/users/{user_id}/authentication/signInPreferences")
        value = (prefs or {}).get("userPreferredMethodForSecondaryAuthentication")
        return str(value) if value and value != "none" else None

    def _method_url(self, user_id: str, method: AuthMethod) -> str:
        url = f"/users/{user_id}/authentication/{SEGMENTS[method.type]}/{method.id}"
        # externalauthenticationmethod-delete: "DELETE /users/{id}/authentication/externalAuthenticationMethods/
        # {id}/$ref" (a reference is removed; the SDK has no builder for it, the page wins).
        return url + "/$ref" if method.type == "externalAuthenticationMethod" else url

    async def delete_method(self, user_id: str, method: AuthMethod) -> None:
        if method.type not in SEGMENTS:
            raise ValueError(f"{method.type} methods cannot be deleted through Graph")
        base = self._beta if method.type in BETA_ONLY else self._v1
        async with graph_errors(f"delete {method.type} method {method.id}"):
            await self._raw(Method.DELETE, base + self._method_url(user_id, method))

    async def delete_methods(self, user_id: str, waves: list[list[AuthMethod]]) -> list[DeleteOutcome]:
        outcomes: dict[str, DeleteOutcome] = {}
        pending = [list(w) for w in waves if w]
        for attempt in range(self._max_retries + 1):
            again: set[str] = set()
            wait = 0.0
            results = await self._delete_round(user_id, pending)
            progress = any(o.error is None for _, o in results)
            for method, outcome in results:
                outcomes[method.id] = outcome
                error = outcome.error
                if isinstance(error, GraphThrottledError):
                    again.add(method.id)
                    wait = max(wait, error.retry_after_s or 1.0)
                elif isinstance(error, GraphTransientError) or (
                        progress and isinstance(error, DefaultMethodConflictError)):
                    # 424 (a dependency failed), a 5xx, or the default conflict after others went: retry. A
                    # conflict in a round that removed nothing would only conflict again.
                    again.add(method.id)
            pending = [[m for m in wave if m.id in again] for wave in pending]
            pending = [w for w in pending if w]
            if not pending or attempt == self._max_retries or wait > self._cap:
                break
            # The SDK does not retry inside a batch: wait as the throttled responses ask, then resend them.
            await asyncio.sleep(wait)
        return [outcomes[m.id] for wave in waves for m in wave]

    async def _delete_round(self, user_id: str, waves: list[list[AuthMethod]]
                            ) -> list[tuple[AuthMethod, DeleteOutcome]]:
        flat = [m for wave in waves for m in wave]
        if len(flat) <= BATCH_LIMIT:
            return list(zip(flat, await self._batch_delete(user_id, waves), strict=True))
        results: list[tuple[AuthMethod, DeleteOutcome]] = []
        for wave in waves:  # too many for one batch: one batch per wave, in order
            for start in range(0, len(wave), BATCH_LIMIT):
                chunk = wave[start:start + BATCH_LIMIT]
                results.extend(zip(chunk, await self._batch_delete(user_id, [chunk]), strict=True))
        return results

    async def _batch_delete(self, user_id: str, waves: list[list[AuthMethod]]) -> list[DeleteOutcome]:
        # Graph accepts a fully parallel batch or a single chain, never a wave depending on a whole wave before
        # it (sandbox/graph/app.py cites the rule): one wave is sent in parallel, several waves as one chain in
        # wave order, which keeps every "after" the waves promise.
        chunk = [m for wave in waves for m in wave]
        sequential = len([w for w in waves if w]) > 1
        requests: list[dict[str, Any]] = []
        for i, method in enumerate(chunk):
            request: dict[str, Any] = {"id": str(i), "method": "DELETE", "url": self._method_url(user_id, method)}
            if sequential and i:
                request["dependsOn"] = [str(i - 1)]
            requests.append(request)
        async with graph_errors(f"batch delete {len(chunk)} methods of {user_id}"):
            base = self._beta if any(m.type in BETA_ONLY for m in chunk) else self._v1
            answer = await self._raw(Method.POST, f"{base}/$batch", {"requests": requests})
        by_id = {r["id"]: r for r in (answer or {}).get("responses", [])}
        outcomes = []
        for i, method in enumerate(chunk):
            item = by_id.get(str(i), {"status": 500})
            status = int(item.get("status", 500))
            if status < 300:
                outcomes.append(DeleteOutcome(method))
                continue
            error = (item.get("body") or {}).get("error", {})
            outcomes.append(DeleteOutcome(method, classify(status, error.get("code", ""), error.get("message", ""),
                                                           item.get("headers"),
                                                           what=f"delete {method.type} method {method.id}")))
        return outcomes

    async def reset_chain(self, user_id: str, deletes: list[AuthMethod], *, revoke: bool,
                          tap: TapRequest | None) -> ChainResult:
        """Graph accepts a $batch that is fully parallel, one sequential chain, or all depending on one request
        (see sandbox/graph/app.py); the deletes must run in order (mobile after alternate mobile, the default
        last), so the writes are one chain: deletes, then revoke, then the TAP, 20 requests a batch. A break (an
        inner 429/5xx, a refused delete: the rest answer 424) is resumed from the break."""
        result = ChainResult(deletes=[])
        outcomes: dict[str, DeleteOutcome] = {}
        pending: list[_Op] = [_Op("delete", m) for m in deletes]
        if revoke:
            pending.append(_Op("revoke"))
        if tap is not None:
            pending.append(_Op("tap", tap=tap))
        attempts = 0
        # A user with a hardware token: the whole chain goes to beta (revokeSignInSessions and the TAP exist there
        # too), keeping two sequential round trips instead of a third for a v1.0 chain beside a beta one.
        version = "beta" if any(m.type in BETA_ONLY for m in deletes) else "v1.0"
        found_later: list[AuthMethod] = []  # methods Graph still had when it refused the default
        spread = 0
        while pending:
            head = pending[:BATCH_LIMIT]
            # A batch no bigger than the tightest bucket holds at once (with a user's methods in the reports
            # bucket of 5 per 10 s, a user with more than a few methods is spread over its windows).
            planned = [self._chain_request(user_id, op, i, head) for i, op in enumerate(head)]
            fits = self._budget.fits([(r["method"], r["url"]) for r in planned]) if self._budget else len(head)
            if fits < len(head):
                spread += 1
            chunk = head[:fits]
            requests = planned[:fits]
            answers = await self._batch(version, requests, f"reset chain of {user_id}")
            result.round_trips += 1
            broken: tuple[int, GraphError] | None = None
            for i, op in enumerate(chunk):
                item = answers.get(str(i), {"status": 500})
                status = int(item.get("status", 500))
                if status == 424:
                    continue  # not run: a dependency failed; resumed below
                error = None
                if status >= 300:
                    body = (item.get("body") or {}).get("error", {})
                    error = classify(status, body.get("code", ""), body.get("message", ""), item.get("headers"),
                                     what=op.what())
                if op.kind == "delete" and op.method is not None:
                    if error is None or isinstance(error, GraphNotFoundError):
                        outcomes[op.method.id] = DeleteOutcome(op.method, error)
                        continue
                elif op.kind == "revoke" and error is None:
                    result.revoked = True
                    continue
                elif op.kind == "tap" and error is None:
                    result.tap = _tap_from_json(item.get("body") or {})
                    continue
                broken = (i, error or GraphTransientError(f"{op.what()}: no answer", status=status))
                break
            if broken is None:
                pending = pending[len(chunk):]
                continue
            index, error = broken
            op = chunk[index]
            rest = pending[index + 1:]
            # The retry bound counts breaks without progress: a chain that moves on between throttled
            # requests (a long reset spread over a bucket's windows) is not given up.
            attempts = attempts + 1 if index == 0 else 1
            if isinstance(error, GraphThrottledError | GraphTransientError) and attempts <= self._max_retries:
                wait = (error.retry_after_s if isinstance(error, GraphThrottledError) else None) or 1.0
                if isinstance(error, GraphThrottledError) and self._budget is not None:
                    # An inner 429 inside a 200 batch never reaches the transport: tell the shared budget here,
                    # so every flow of the worker backs off, not only this chain.
                    self._budget.penalize(requests[index]["method"], requests[index]["url"], wait)
                if wait <= self._cap:
                    result.notes.append(f"chain broken at {op.what()} ({error.status}): resumed from there after "
                                        f"{wait:g} s")
                    await asyncio.sleep(wait)
                    pending = pending[index:]
                    continue
            if isinstance(error, DefaultMethodConflictError) and op.method is not None and attempts <= \
                    self._max_retries + 2:
                known = {o.method.id for o in pending if o.method is not None} | set(outcomes)
                unblocked = await self._unblock_default(user_id, op.method, known)
                if unblocked is not None:
                    moved, others, new_default = unblocked
                    found_later += [*others, new_default]
                    result.notes.append(f"chain broken at {op.what()}: Graph refused the default method while "
                                        f"{len(others) + 1} other method(s) remained; default moved to "
                                        f"{moved}; resumed from there")
                    tail = [o for o in pending[index + 1:] if o.kind != "delete"]
                    deletes_left = [o for o in pending[index + 1:] if o.kind == "delete"]
                    pending = [op, *deletes_left, *(_Op("delete", m) for m in others), _Op("delete", new_default),
                               *tail]
                    continue
            if op.kind == "delete" and op.method is not None:
                outcomes[op.method.id] = DeleteOutcome(op.method, error)
                result.notes.append(f"chain broken at {op.what()}: {error}")
                # Deletes after a refused one still run (a later wave may not depend on it); revoke and TAP wait
                # until every delete is done, so a half-reset user never gets a pass.
                pending = [o for o in rest if o.kind == "delete"]
                if not pending:
                    break
                continue
            if op.kind == "revoke":
                result.revoke_error = error
            else:
                result.tap_error = error
            result.notes.append(f"chain broken at {op.what()}: {error}")
            pending = [o for o in rest if o.kind == "tap"] if op.kind == "revoke" and \
                not isinstance(error, GraphThrottledError | GraphTransientError) else []
        if spread and self._budget is not None:
            result.notes.append(f"spread over {result.round_trips} batches to stay inside Graph's buckets (a "
                                f"user's methods count in the reports bucket: {self._budget.describe('reports')})")
        result.deletes = [outcomes.get(m.id) or DeleteOutcome(m, GraphTransientError(
            f"delete {m.type} method {m.id}: not reached", status=424)) for m in [*deletes, *found_later]]
        return result

    async def _unblock_default(self, user_id: str, method: AuthMethod, known: set[str]
                               ) -> tuple[str, list[AuthMethod], AuthMethod] | None:
        """Graph refused to delete the default method because another method remains that the read did not see
        (registered since): point the default at a remaining method, so the old default can go, and remove the
        others too, the new default last. None when nothing remains that the default could name."""
        remaining = [m for m in await self.list_methods(user_id) if m.id != method.id and m.id not in known
                     and m.type in SEGMENTS]
        for other in remaining:
            preferred = _DEFAULT_FOR.get((other.type, other.label if other.type == "phone" else None))
            if preferred:
                await self.set_default_method(user_id, preferred)
                return preferred, [m for m in remaining if m is not other], other
        return None

    def _chain_request(self, user_id: str, op: _Op, index: int, chunk: list[_Op]) -> dict[str, Any]:
        request: dict[str, Any] = {"id": str(index)}
        if op.kind == "delete" and op.method is not None:
            request.update(method="DELETE", url=self._method_url(user_id, op.method))
        elif op.kind == "revoke":
            request.update(method="POST", url=f"/users/{user_id}/revokeSignInSessions", body={},
                           headers={"Content-Type": "application/json"})
        else:
            assert op.tap is not None
            body: dict[str, Any] = {"isUsableOnce": op.tap.usable_once}
            if op.tap.lifetime_minutes:
                body["lifetimeInMinutes"] = op.tap.lifetime_minutes
            request.update(method="POST", url=f"/users/{user_id}/authentication/temporaryAccessPassMethods",
                           body=body, headers={"Content-Type": "application/json"})
        if index:
            request["dependsOn"] = [str(index - 1)]
        return request

    async def per_user_mfa(self, user_id: str) -> str:
        async with graph_errors(f"read the per-user MFA state of {user_id}"):
            body = await self._raw(Method.GET, f"{self._beta}/users/{user_id}/authentication/requirements")
        return str((body or {}).get("perUserMfaState") or "disabled")

    async def set_per_user_mfa(self, user_id: str, state: str) -> None:
        async with graph_errors(f"set the per-user MFA state of {user_id} to {state}"):
            await self._raw(Method.PATCH, f"{self._beta}/users/{user_id}/authentication/requirements",
                            {"perUserMfaState": state})

    async def set_default_method(self, user_id: str, method: str) -> None:
        async with graph_errors(f"set the default method of {user_id} to {method}"):
            await self._raw(Method.PATCH, f"{self._beta}/users/{user_id}/authentication/signInPreferences",
                            {"userPreferredMethodForSecondaryAuthentication": method})

    async def create_tap(self, user_id: str, *, lifetime_minutes: int | None, usable_once: bool) -> IssuedTap:
        from msgraph.generated.models.temporary_access_pass_authentication_method import (
            TemporaryAccessPassAuthenticationMethod,
        )

        body = TemporaryAccessPassAuthenticationMethod(lifetime_in_minutes=lifetime_minutes,
                                                       is_usable_once=usable_once)
        async with graph_errors(f"create a Temporary Access Pass for {user_id}"):
            tap = await self._client.users.by_user_id(user_id).authentication.temporary_access_pass_methods.post(
                body)
        assert tap is not None and tap.id and tap.temporary_access_pass
        return IssuedTap(method_id=tap.id, value=TapValue(tap.temporary_access_pass),
                         start=tap.start_date_time or tap.created_date_time or datetime.now(UTC),
                         lifetime_minutes=int(tap.lifetime_in_minutes or 0), usable_once=bool(tap.is_usable_once))

    async def revoke_sessions(self, user_id: str) -> None:
        async with graph_errors(f"revoke sessions of {user_id}"):
            await self._client.users.by_user_id(user_id).revoke_sign_in_sessions.post()
