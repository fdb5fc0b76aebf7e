"""Cleanup: plan (stored in Table Storage, refused past the policy's limit), then apply once, re-reading each
user before deleting. Candidates come from server-side filters (the registration details report's
``methodsRegistered/any``, ``/users?$filter=accountEnabled eq false`` and ``userType eq 'Guest'``), never a
per-user scan of the tenant; methods are read only for candidates, 20 to a $batch. One piece at ~540 lines: a
plan and its apply share the rules' scope and the plan's storage, and apply re-judges exactly what plan judged
(the `unused` rule's arithmetic is its own module, unused.py)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableServiceClient

from shared.alerts import Alerts
from shared.cleanup.policy import PHISHING_RESISTANT, VOCABULARY, CleanupPolicy, PolicyError
from shared.cleanup.unused import enabled_configurations, judge, resource
from shared.errors import DefaultMethodConflictError, GroupNotFoundError, JobNotFoundError, MfaopsError
from shared.graph.budget import GraphBudget
from shared.graph.lanes import background_flow
from shared.graph.method_names import spellings
from shared.graph.port import GraphGateway
from shared.inventory.store import InventoryStore
from shared.isotime import parse_time
from shared.jobs.admission import admit
from shared.jobs.model import Job, JobKind, JobState, Source, Target, utcnow
from shared.jobs.store import JobStore
from shared.settings import Settings
from shared.tablekeys import table_key
from shared.telemetry.spans import CLEANUP_REMOVALS

SEGMENT = {"phoneAuthenticationMethod": "phoneMethods", "emailAuthenticationMethod": "emailMethods",
           "microsoftAuthenticatorAuthenticationMethod": "microsoftAuthenticatorMethods",
           "softwareOathAuthenticationMethod": "softwareOathMethods", "fido2AuthenticationMethod": "fido2Methods",
           "windowsHelloForBusinessAuthenticationMethod": "windowsHelloForBusinessMethods",
           "platformCredentialAuthenticationMethod": "platformCredentialMethods",
           "temporaryAccessPassAuthenticationMethod": "temporaryAccessPassMethods",
           "externalAuthenticationMethod": "externalAuthenticationMethods",
           "hardwareOathAuthenticationMethod": "hardwareOathMethods"}
# Only beta lists and deletes hardware OATH tokens: the plan reads every candidate's methods from beta (the same
# one request a user either way), and a token's delete goes to beta.
BETA_ONLY = frozenset({"hardwareOathAuthenticationMethod"})


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ITEMS_PER_ROW = 100  # ~180 characters an item: well inside a property's 32K


class PlanRefused(MfaopsError):
    """The plan is over the policy's max_removals_per_run (exit 3): nothing is applied."""


class PlanStateError(MfaopsError):
    """The plan was applied already, or refused (exit 3)."""


class ApprovalRequiredError(PlanStateError):
    """The plan touches privileged users: a second person must approve (--approved-by), as for a reset."""


@dataclass(frozen=True, slots=True)
class Item:
    user: str
    upn: str
    method_type: str
    method_id: str
    rule: str
    last_used: str | None = None  # an `unused` rule's: the lastUsedDateTime the plan judged

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"user": self.user, "upn": self.upn, "method_type": self.method_type,
                               "method_id": self.method_id, "rule": self.rule}
        if self.last_used is not None:
            out["last_used"] = self.last_used
        return out


@dataclass
class Plan:
    plan_id: str
    items: list[Item]
    graph_requests: int
    status: str  # planned | refused | applied
    limit: int
    policy: dict[str, Any] = field(default_factory=dict)
    privileged_users: list[str] = field(default_factory=list)  # ids of users holding a PRIVILEGED_ROLES role
    # `unused` rules: methods Graph gives no lastUsedDateTime (never judged unused), and methods a rule chose but
    # keeps so the user keeps a way to sign in (reason `keeps_mfa` or `last_method`).
    unknown: list[Item] = field(default_factory=list)
    held: list[tuple[Item, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"plan_id": self.plan_id, "items": [i.to_dict() for i in self.items],
                               "graph_requests": self.graph_requests, "status": self.status, "limit": self.limit,
                               "privileged_users": self.privileged_users}
        if any(r.get("kind") == "unused" for r in self.policy.get("rules", [])):
            out["unknown"] = {"count": len(self.unknown), "items": [i.to_dict() for i in self.unknown]}
            out["held"] = [{**i.to_dict(), "reason": reason} for i, reason in self.held]
        return out


@dataclass
class _Found:
    """What the `unused` rules found for one user, as plan items."""

    chosen: list[Item] = field(default_factory=list)
    unknown: list[Item] = field(default_factory=list)
    held: list[tuple[Item, str]] = field(default_factory=list)


def _kind_of(method: dict[str, Any]) -> str:
    """A listed method's methodsRegistered name (the vocabulary's first name for its type)."""
    odata = str(method.get("@odata.type", "")).rsplit(".", 1)[-1]
    phone = method.get("phoneType")
    for name, (kind, phone_type) in VOCABULARY.items():
        if kind == odata and (phone_type is None or phone_type == phone):
            return name
    return ""


def _matches(method: dict[str, Any], names: list[str]) -> bool:
    odata = str(method.get("@odata.type", "")).rsplit(".", 1)[-1]
    return any(VOCABULARY[n][0] == odata and (VOCABULARY[n][1] is None or VOCABULARY[n][1] == method.get("phoneType"))
               for n in names)


@dataclass
class CleanupService:
    settings: Settings
    graph: GraphGateway
    jobs: JobStore
    tables: TableServiceClient
    alerts: Alerts
    budget: GraphBudget | None = None
    now: Callable[[], datetime] = field(default=utcnow)
    inventory: InventoryStore | None = None

    # -- plan -------------------------------------------------------------------------------------------------
    @background_flow
    async def plan(self, policy: CleanupPolicy) -> Plan:
        sent = self.budget.http_requests if self.budget else 0
        inventory = await self._inventory(policy)
        scope = await self._scope(policy, inventory)
        excluded = await self._excluded(policy)
        users = {uid: upn for uid, (upn, _) in scope.items() if uid not in excluded and upn.lower() not in excluded}
        unused_rules = {r.id for r in policy.rules if r.kind == "unused"}
        # Users only `unused` rules reach are planned from the inventory; the rest are read from Graph (beta, which
        # carries lastUsedDateTime too).
        from_graph = [u for u in users if scope[u][1] - unused_rules]
        answers = await self.graph.get_many({u: f"/users/{u}/authentication/methods" for u in from_graph}, "beta")
        answers.update({u: (200, {"value": inventory[u][1]}) for u in users if u not in answers and u in inventory})
        enabled = await self._enabled_methods(policy)
        items: list[Item] = []
        unknown: list[Item] = []
        held: list[tuple[Item, str]] = []
        for uid, (status, body) in answers.items():
            if status >= 300:
                continue
            methods = (body or {}).get("value") or []
            items += self._items(policy, uid, users[uid], scope[uid][1], methods)
            default = inventory[uid][2] if uid in inventory else None
            found = self._unused(policy, uid, users[uid], scope[uid][1], methods, enabled, default)
            items += found.chosen
            unknown += found.unknown
            held += found.held
        # One item per (user, method): two rules may pick the same method. Phone and e-mail ids are the same for
        # every user (Graph's fixed ids), so the user is part of the key.
        unique = list({(i.user, i.method_id): i for i in reversed(items)}.values())[::-1]
        privileged = await self._privileged({i.user for i in unique})
        requests = (self.budget.http_requests - sent) if self.budget else 0
        plan = Plan(plan_id=str(uuid.uuid4()), items=unique, graph_requests=requests,
                    status="planned" if len(unique) <= policy.max_removals_per_run else "refused",
                    limit=policy.max_removals_per_run, policy=policy.model_dump(),
                    privileged_users=sorted(privileged), unknown=unknown, held=held)
        await self._save(plan)
        if plan.status == "refused":
            await self.alerts.raise_alert("cleanup_over_limit", f"cleanup plan {plan.plan_id} would remove "
                                          f"{len(unique)} methods, over max_removals_per_run="
                                          f"{policy.max_removals_per_run}: nothing is applied",
                                          plan_id=plan.plan_id, items=len(unique), limit=policy.max_removals_per_run)
        return plan

    async def _inventory(self, policy: CleanupPolicy) -> dict[str, tuple[str, list[dict[str, Any]], str | None]]:
        """User id -> (UPN, their stored methods in Graph's shape, their default method), when a rule judges use;
        refused when there is no inventory to judge by (an `unused` rule that saw nobody would plan nothing and
        look done)."""
        if not any(r.kind == "unused" for r in policy.rules):
            return {}
        rows = await self.inventory.all() if self.inventory is not None else []
        if not rows:
            raise PolicyError("the policy has `unused` rules and the methods inventory is empty: run "
                              "`mfaops inventory run` (or wait for INVENTORY_SCHEDULE) first")
        return {r.user_id.lower(): (r.upn, [m.as_graph() for m in r.methods], r.default) for r in rows}

    async def _enabled_methods(self, policy: CleanupPolicy) -> set[str] | None:
        if not any(r.kind == "unused" and not r.allow_last for r in policy.rules):
            return None
        try:
            return enabled_configurations(await self.graph.methods_policy())
        except MfaopsError as exc:
            raise PolicyError(f"cannot decide which methods satisfy the tenant's MFA, so `unused` rules cannot "
                              f"keep one: {exc}") from exc

    def _unused(self, policy: CleanupPolicy, uid: str, upn: str, rules: set[str], methods: list[dict[str, Any]],
                enabled: set[str] | None, default: str | None) -> _Found:
        out = _Found()
        removable = [m for m in methods if resource(m) in SEGMENT]
        for rule in policy.rules:
            if rule.kind != "unused" or rule.id not in rules:
                continue
            found = judge([m for m in removable if _matches(m, rule.remove)], methods, days=rule.days,
                          now=self.now(), allow_last=rule.allow_last, enabled=enabled, default=default)

            def item(m: dict[str, Any], rule_id: str = rule.id) -> Item:
                return Item(uid, upn, _kind_of(m), str(m["id"]), rule_id, last_used=m.get("lastUsedDateTime"))

            out.chosen += [item(m) for m in found.chosen]
            out.unknown += [item(m) for m in found.unknown]
            out.held += [(item(m), reason) for m, reason in found.held]
        return out

    async def _scope(self, policy: CleanupPolicy,
                     inventory: dict[str, tuple[str, list[dict[str, Any]], str | None]] | None = None
                     ) -> dict[str, tuple[str, set[str]]]:
        """User id -> (UPN, ids of the rules that may apply to them)."""
        scope: dict[str, tuple[str, set[str]]] = {}

        def add(rows: list[dict[str, Any]], rule: str) -> None:
            for row in rows:
                uid = str(row["id"]).lower()
                scope.setdefault(uid, (str(row.get("userPrincipalName") or ""), set()))[1].add(rule)

        report: dict[tuple[str, ...], list[dict[str, Any]]] = {}

        async def registered(names: tuple[str, ...]) -> list[dict[str, Any]]:
            if names not in report:
                report[names] = await self.graph.registered_with(*names)
            return report[names]

        for rule in policy.rules:
            members = set()
            for group in rule.include_groups:
                members |= await self._members(group, f"rules.{rule.id}.include_groups")
            rows: list[dict[str, Any]] = []
            if rule.kind == "disabled_account":
                rows = await self.graph.list_users("accountEnabled eq false", ["id", "userPrincipalName"])
            elif rule.kind == "guest":
                rows = await self.graph.list_users("userType eq 'Guest'", ["id", "userPrincipalName"])
            elif rule.kind == "weak_when_phishing_resistant":
                # Who has a phishing-resistant method, under any of its spellings (one query: the names or'ed).
                strong = {str(r["id"]).lower(): r for r in await registered(tuple(PHISHING_RESISTANT))}
                weak = {s for n in rule.remove for s in spellings(n)}
                rows = [r for r in strong.values() if set(r.get("methodsRegistered") or []) & weak]
            elif rule.kind in ("keep_newest", "method_type"):  # the report lists who has each type
                wanted = tuple(dict.fromkeys(s for n in rule.remove for s in spellings(n)))
                rows = list({str(r["id"]).lower(): r for r in await registered(wanted)}.values())
            elif rule.kind == "unused":  # who the inventory holds a method of the rule's types for
                rows = [{"id": uid, "userPrincipalName": upn} for uid, (upn, methods, _) in (inventory or {}).items()
                        if any(_matches(m, rule.remove) for m in methods)]
            if rule.include_groups:
                rows = [r for r in rows if str(r["id"]).lower() in members]
            add(rows, rule.id)
        return scope

    async def _excluded(self, policy: CleanupPolicy) -> set[str]:
        out = set(self.settings.break_glass_upn_set)
        for group in [self.settings.break_glass_group, *policy.exclude_groups]:
            if group.strip():
                out |= await self._members(group.strip(), "exclude_groups" if group in policy.exclude_groups
                                           else "BREAK_GLASS_GROUP")
        return out

    async def _members(self, group: str, where: str) -> set[str]:
        """A group's members; a group that does not exist is an error (a typo must not exclude nobody)."""
        try:
            return await self.graph.group_member_ids(group)
        except GroupNotFoundError as exc:
            raise PolicyError(f"{where}: group {group!r} does not exist in the tenant") from exc

    async def _privileged(self, users: set[str]) -> set[str]:
        """Which of ``users`` hold a PRIVILEGED_ROLES role (read from the roles' members, every page)."""
        if not users:
            return set()
        wanted = self.settings.privileged_role_set
        holders = await self.graph.role_holders()
        return {u for u in users if (roles := holders.get(u.lower())) and
                ("*" in wanted or {r.lower() for r in roles} & wanted)}

    @staticmethod
    def _items(policy: CleanupPolicy, uid: str, upn: str, rules: set[str],
               methods: list[dict[str, Any]]) -> list[Item]:
        removable = [m for m in methods if str(m.get("@odata.type", "")).rsplit(".", 1)[-1] in SEGMENT]
        out: list[Item] = []
        for rule in policy.rules:
            if rule.id not in rules:
                continue
            if rule.kind in ("disabled_account", "guest"):
                chosen = removable
            elif rule.kind == "weak_when_phishing_resistant":
                strong = [m for m in methods if _matches(m, list(PHISHING_RESISTANT))]
                chosen = [m for m in removable if _matches(m, rule.remove)] if strong else []
            elif rule.kind == "keep_newest":
                chosen = []
                for name in rule.remove:
                    of_type = sorted((m for m in removable if _matches(m, [name])),
                                     key=lambda m: str(m.get("createdDateTime") or ""), reverse=True)
                    chosen += of_type[rule.keep:]
            elif rule.kind == "method_type":
                chosen = [m for m in removable if _matches(m, rule.remove)]
            else:
                chosen = []
            out += [Item(uid, upn, _kind_of(m), str(m["id"]), rule.id) for m in chosen]
        return out

    # -- the plan store ---------------------------------------------------------------------------------------
    def _table(self) -> Any:
        return self.tables.get_table_client(self.settings.jobs_table)

    async def _save(self, plan: Plan) -> None:
        # A string property holds 32K characters: the items go in rows of their own, ITEMS_PER_ROW at a time,
        # in a partition per plan; the plan's own row (status, limit, policy) is written last.
        await self.tables.create_table_if_not_exists(self.settings.jobs_table)
        table = self._table()
        lists = (("", [i.to_dict() for i in plan.items]), ("u", [i.to_dict() for i in plan.unknown]),
                 ("h", [{**i.to_dict(), "reason": r} for i, r in plan.held]))
        for prefix, rows in lists:
            for n, start in enumerate(range(0, len(rows), ITEMS_PER_ROW)):
                chunk = json.dumps(rows[start:start + ITEMS_PER_ROW], separators=(",", ":"))
                await table.upsert_entity({"PartitionKey": f"cleanup-items-{plan.plan_id}",
                                           "RowKey": f"{prefix}{n:06d}", "Items": chunk}, mode=UpdateMode.REPLACE)
        await table.upsert_entity({
            "PartitionKey": "cleanup-plan", "RowKey": plan.plan_id, "Status": plan.status, "Limit": plan.limit,
            "ItemCount": len(plan.items), "GraphRequests": plan.graph_requests,
            "Policy": json.dumps(plan.policy), "Privileged": json.dumps(plan.privileged_users),
            "At": self.now()}, mode=UpdateMode.REPLACE)

    async def show(self, plan_id: str) -> Plan:
        entity = await self._entity(plan_id)
        items: list[Item] = []
        unknown: list[Item] = []
        held: list[tuple[Item, str]] = []
        rows = self._table().query_entities("PartitionKey eq @pk", parameters={"pk": f"cleanup-items-{plan_id}"})
        async for row in rows:
            found = json.loads(row["Items"])
            key = str(row["RowKey"])
            if key.startswith("u"):
                unknown += [Item(**i) for i in found]
            elif key.startswith("h"):
                held += [(Item(**{k: v for k, v in i.items() if k != "reason"}), str(i["reason"])) for i in found]
            else:
                items += [Item(**i) for i in found]
        return Plan(plan_id=plan_id, items=items, graph_requests=int(entity.get("GraphRequests", 0)),
                    status=str(entity["Status"]), limit=int(entity.get("Limit", 0)),
                    policy=json.loads(entity.get("Policy", "{}")),
                    privileged_users=list(json.loads(entity.get("Privileged", "[]"))), unknown=unknown, held=held)

    async def _entity(self, plan_id: str) -> Any:
        # Plan ids are uuid4s; anything else from input ("a/b", a lone surrogate) names no plan. The key helper
        # keeps such input from reaching Table Storage as a malformed key.
        if not _UUID.fullmatch(plan_id):
            raise JobNotFoundError(f"no cleanup plan {plan_id!r}")
        try:
            return await self._table().get_entity("cleanup-plan", table_key(plan_id))
        except ResourceNotFoundError:
            raise JobNotFoundError(f"no cleanup plan {plan_id!r}") from None

    # -- apply ------------------------------------------------------------------------------------------------
    @background_flow
    async def apply(self, plan_id: str, *, by: str, approved_by: str = "") -> dict[str, Any]:
        """Apply a planned plan once: re-read each item's user, skip what is gone or out of scope, remove the
        rest (a default method Graph refuses while others remain goes in a second wave, after them). A plan that
        touches privileged users needs ``approved_by``, a second person (the timer, which has none, skips them)."""
        entity = await self._entity(plan_id)
        if entity["Status"] != "planned":
            raise PlanStateError(f"plan {plan_id} is {entity['Status']}: a plan is applied at most once, and a "
                                 "refused one never")
        if approved_by and approved_by.strip().lower() == by.strip().lower():
            raise ApprovalRequiredError("--approved-by must be a second person, not the one who applies")
        planned_privileged = set(json.loads(entity.get("Privileged", "[]")))
        if planned_privileged and not approved_by and by != "timer":
            raise ApprovalRequiredError(f"plan {plan_id} removes methods of {len(planned_privileged)} privileged "
                                        "user(s): a second person must approve (--approved-by), as for a "
                                        "privileged reset")
        claimed = {**entity, "Status": "applying"}
        try:  # the ETag makes the claim: of two concurrent applies, one goes ahead
            await self._table().update_entity(claimed, mode=UpdateMode.REPLACE, etag=entity.metadata["etag"],
                                              match_condition=MatchConditions.IfNotModified)
        except ResourceModifiedError:
            raise PlanStateError(f"plan {plan_id} is being applied by another run") from None
        plan = await self.show(plan_id)
        policy = CleanupPolicy.model_validate(plan.policy)
        resent_before = int(getattr(self.graph, "resent_requests", 0))
        job = Job.new(JobKind.CLEANUP, Target(), Source(kind="operator" if by != "timer" else "timer",
                                                        operator="" if by == "timer" else by, number=plan_id),
                      requested_by=by, now=self.now())
        job.transition(JobState.RUNNING, f"plan {plan_id}: {len(plan.items)} items", now=self.now())
        stored, _ = await self.jobs.create(job)
        users = {i.user: i.upn for i in plan.items}
        inventory = await self._inventory(policy)
        scope = await self._scope(policy, inventory)
        excluded = await self._excluded(policy)
        # Roles may have changed since the plan: privileged now or then, the approval is needed.
        privileged = planned_privileged | await self._privileged(set(users))
        answers = await self.graph.get_many({u: f"/users/{u}/authentication/methods" for u in users}, "beta")
        todo: list[Item] = []
        skipped: list[dict[str, str]] = []
        unused = {r.id: r for r in policy.rules if r.kind == "unused"}
        enabled = await self._enabled_methods(policy)
        kept = self._still_needed(plan.items, answers, unused, enabled,
                                  {uid: row[2] for uid, row in inventory.items()})
        for item in plan.items:
            status, body = answers.get(item.user, (404, None))
            now_listed = {str(m.get("id")): m for m in ((body or {}).get("value") or [])} if status < 300 else {}
            if item.method_id not in now_listed:
                skipped.append({**item.to_dict(), "reason": "method_gone"})
            elif item.rule in unused and _used_since(item, now_listed[item.method_id]):
                skipped.append({**item.to_dict(), "reason": "used_since_plan"})
            elif (item.user, item.method_id) in kept:
                skipped.append({**item.to_dict(), "reason": kept[(item.user, item.method_id)]})
            elif item.user in excluded or item.upn.lower() in excluded or item.rule not in scope.get(
                    item.user, ("", set()))[1]:
                skipped.append({**item.to_dict(), "reason": "out_of_scope"})
            elif item.user in privileged and not approved_by:
                skipped.append({**item.to_dict(), "reason": "privileged_needs_approval"})
            else:
                todo.append(item)
        # Each user whose methods go counts against the blast-radius limit shared with resets and containment.
        refused: set[str] = set()
        for user in dict.fromkeys(i.user for i in todo):
            ok, _ = await admit(self.jobs, f"{stored.job_id}:{user}", limit=self.settings.resets_per_hour_limit,
                                now=self.now())
            if not ok:
                refused.add(user)
        skipped += [{**i.to_dict(), "reason": "blast_radius"} for i in todo if i.user in refused]
        todo = [i for i in todo if i.user not in refused]
        errors = await self._delete(todo)
        failed = [{**i.to_dict(), "reason": str(errors[_key(i)])} for i in todo if errors.get(_key(i))]
        removed = [i for i in todo if not errors.get(_key(i))]
        CLEANUP_REMOVALS.add(len(removed))
        retried = int(getattr(self.graph, "resent_requests", 0)) - resent_before

        def record(j: Job) -> None:
            j.record_resends(retried, now=self.now())
            if approved_by and privileged:
                j.record("approval", "privileged", f"second approval by {approved_by} for {len(privileged)} "
                         "privileged user(s)", data={"by": approved_by}, now=self.now())
            for i in removed:
                j.record("delete_method", "removed", f"{i.upn or i.user}: {i.method_type} (rule {i.rule})",
                         data={"type": i.method_type, "id": i.method_id, "user": i.user, "rule": i.rule},
                         now=self.now())
            for s in skipped:
                j.record("delete_method", "skipped", f"{s['upn'] or s['user']}: {s['method_type']} ({s['reason']})",
                         data=dict(s), now=self.now())
            for f in failed:
                j.record("delete_method", "failed", f"{f['upn'] or f['user']}: {f['method_type']}: {f['reason']}",
                         data={k: f[k] for k in ("user", "method_id", "rule")}, now=self.now())
            if failed:
                j.fail("partial", f"{len(failed)} of {len(todo)} removals failed", now=self.now())
            else:
                j.transition(JobState.SUCCEEDED, f"{len(removed)} removed, {len(skipped)} skipped", now=self.now())

        await self.jobs.update(stored.job_id, record)
        await self._table().upsert_entity({**claimed, "Status": "applied", "JobId": stored.job_id},
                                          mode=UpdateMode.REPLACE)
        return {"plan_id": plan_id, "job_id": stored.job_id, "removed": len(removed), "skipped": skipped,
                "failed": failed}

    @staticmethod
    def _still_needed(items: list[Item], answers: dict[str, tuple[int, Any]], unused: dict[str, Any],
                      enabled: set[str] | None, defaults: dict[str, str | None]) -> dict[tuple[str, str], str]:
        """Judged again on what each user has now: the `unused` items that must stay so the user keeps a method
        (the plan's rule, re-applied to the re-read methods, holds them back)."""
        out: dict[tuple[str, str], str] = {}
        for rule in unused.values():
            if rule.allow_last:
                continue
            by_user: dict[str, set[str]] = {}
            for item in items:
                if item.rule == rule.id:
                    by_user.setdefault(item.user, set()).add(item.method_id)
            for user, ids in by_user.items():
                status, body = answers.get(user, (404, None))
                methods = ((body or {}).get("value") or []) if status < 300 else []
                planned = [m for m in methods if str(m.get("id")) in ids]
                found = judge(planned, methods, days=0, now=datetime.max.replace(tzinfo=UTC), allow_last=False,
                              enabled=enabled, default=defaults.get(user))
                out.update({(user, str(m.get("id"))): reason for m, reason in found.held})
        return out

    async def _delete(self, items: list[Item]) -> dict[str, Exception | None]:
        out: dict[str, Exception | None] = {}
        for version in ("v1.0", "beta"):
            part = [i for i in items if (VOCABULARY[i.method_type][0] in BETA_ONLY) == (version == "beta")]
            if part:
                out.update(await self._delete_in(version, part))
        return out

    async def _delete_in(self, version: str, items: list[Item]) -> dict[str, Exception | None]:
        """In waves, as Graph allows them: a mobile number after the same user's alternate mobile number ("delete
        the alternateMobile number first"), and a default method Graph refused while others remained once more after
        them (and again only after a wave that removed something: never a loop)."""
        alternates = {i.user for i in items if i.method_type == "alternateMobilePhone"}
        first = [i for i in items if not (i.method_type == "mobilePhone" and i.user in alternates)]
        waiting = [i for i in items if i not in first]
        out: dict[str, Exception | None] = {}
        wave = first
        for n in range(3):
            if not wave:
                break
            answers = await self.graph.delete_many({_key(i): _delete_url(i) for i in wave}, version)
            out.update(answers)
            progressed = n == 0 or any(e is None for e in answers.values())  # the first refusal is asked again once
            refused = [i for i in wave if isinstance(answers.get(_key(i)), DefaultMethodConflictError)]
            wave, waiting = waiting + (refused if progressed else []), []
        return out


def _delete_url(item: Item) -> str:
    resource = VOCABULARY[item.method_type][0]
    url = f"/users/{item.user}/authentication/{SEGMENT[resource]}/{item.method_id}"
    # externalauthenticationmethod-delete removes the reference: ".../externalAuthenticationMethods/{id}/$ref".
    return url + "/$ref" if resource == "externalAuthenticationMethod" else url


def _used_since(item: Item, method: dict[str, Any]) -> bool:
    """Used since the plan judged it: Graph now gives a later lastUsedDateTime than the plan saw."""
    planned, now = parse_time(item.last_used), parse_time(method.get("lastUsedDateTime"))
    return now is not None and (planned is None or now > planned)


def _key(item: Item) -> str:
    return f"{item.user}/{item.method_id}"


