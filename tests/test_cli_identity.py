"""Who the CLI acts as: app-only (`--by` asserted), delegated (`by` from the token, another `--by` refused),
local (`--by` required)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from cli.identity import IdentityError, token_claims, who_acts
from shared.bootstrap import Container
from shared.settings import load_settings


def token(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.signature"


class StubCredential:
    def __init__(self, claims: dict[str, Any]) -> None:
        self.value = token(claims)

    async def get_token(self, *scopes: str) -> Any:
        assert scopes == ("https://graph.microsoft.com/.default",)
        return type("Token", (), {"token": self.value})()


def container_with(claims: dict[str, Any]) -> Container:
    container = Container(load_settings({}))
    container._credential = StubCredential(claims)  # type: ignore[assignment]
    return container


async def test_app_only_needs_by_and_records_it_as_asserted() -> None:
    app = container_with({"oid": "1", "roles": ["UserAuthenticationMethod.ReadWrite.All"]})
    with pytest.raises(IdentityError, match="--by is required"):
        await who_acts(app, by="", local=False)
    actor = await who_acts(app, by="desk@contoso.example", local=False)
    assert (actor.by, actor.mode, actor.asserted) == ("desk@contoso.example", "app-only", True)
    assert "UserAuthenticationMethod.ReadWrite.All" in actor.roles


async def test_delegated_takes_by_from_the_token_and_refuses_another() -> None:
    user = container_with({"oid": "2", "upn": "ops@contoso.example", "scp": "UserAuthenticationMethod.ReadWrite.All"})
    actor = await who_acts(user, by="", local=False)
    assert (actor.by, actor.mode, actor.asserted) == ("ops@contoso.example", "delegated", False)
    assert (await who_acts(user, by="OPS@contoso.example", local=False)).by == "ops@contoso.example"
    with pytest.raises(IdentityError, match="not the signed-in user"):
        await who_acts(user, by="someone.else@contoso.example", local=False)


async def test_local_needs_by() -> None:
    with pytest.raises(IdentityError):
        await who_acts(Container(load_settings({})), by="", local=True)
    assert (await who_acts(Container(load_settings({})), by="a@b.example", local=True)).mode == "local"


def test_a_malformed_token_has_no_claims() -> None:
    assert token_claims("not-a-jwt") == {} and token_claims("a.!!!.c") == {}
