"""The one place a GraphServiceClient is built: managed identity in Azure, anonymous for the sandbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import RetryHandler
from kiota_http.middleware.options import RetryHandlerOption

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from msgraph.graph_request_adapter import GraphRequestAdapter
    from msgraph.graph_service_client import GraphServiceClient

    from shared.graph.budget import GraphBudget
    from shared.settings import Settings

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class CappedRetryHandler(RetryHandler):
    """kiota's retry handler with two changes: a Retry-After longer than ``cap_s`` is not waited for (the
    429 goes back to the caller, and the queue redelivers later, so a function never sleeps past its
    timeout), and a fractional Retry-After is honoured (kiota's parser takes only whole seconds and
    otherwise falls back to its own back-off)."""

    def __init__(self, options: RetryHandlerOption, cap_s: float) -> None:
        super().__init__(options=options)
        self.cap_s = cap_s

    def get_delay_time(self, retry_count: int, response: httpx.Response | None = None,
                       delay: float = RetryHandlerOption.DEFAULT_DELAY) -> float:
        header = response.headers.get("retry-after") if response is not None else None
        if header:
            try:
                wanted = float(header)
            except ValueError:
                wanted = float(super().get_delay_time(retry_count, response, delay))
            # Past the cap: answer MAX_DELAY, which makes the handler stop retrying.
            return wanted if wanted <= self.cap_s else RetryHandlerOption.MAX_DELAY
        return float(min(super().get_delay_time(retry_count, response, delay), self.cap_s))


def _middleware(settings: Settings) -> list[object]:
    # Base delay 0: kiota adds it to every exponential back-off step, and 3 s by default is a long sleep for a
    # 503 that usually clears in a second.
    option = RetryHandlerOption(delay=0.0, max_retries=settings.graph_max_retries,
                                should_retry=settings.graph_max_retries > 0)
    middleware: list[object] = []
    for handler in KiotaClientFactory.get_default_middleware(None):
        if isinstance(handler, RetryHandler):
            handler = CappedRetryHandler(option, cap_s=settings.graph_retry_after_cap_s)
        middleware.append(handler)
    return middleware


def build_graph_client(settings: Settings, *, credential: AsyncTokenCredential | None = None,
                       transport: httpx.AsyncBaseTransport | None = None,
                       budget: GraphBudget | None = None) -> GraphServiceClient:
    """A client for ``settings.graph_base_url``. ``credential`` None means anonymous (the sandbox tenant);
    ``transport`` lets tests route to the simulator in-process (httpx.ASGITransport); ``budget`` makes every
    request wait for its share of Graph's buckets."""
    from kiota_abstractions.authentication import AnonymousAuthenticationProvider, AuthenticationProvider
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph.graph_request_adapter import GraphRequestAdapter
    from msgraph.graph_service_client import GraphServiceClient
    from msgraph_core import GraphClientFactory

    timeout = httpx.Timeout(60.0, connect=10.0)  # Graph cancels authentication-method calls after 60 s
    if budget is not None:
        from shared.graph.budget import BudgetTransport

        transport = BudgetTransport(transport or httpx.AsyncHTTPTransport(), budget)
    http = httpx.AsyncClient(transport=transport, timeout=timeout) if transport else httpx.AsyncClient(
        timeout=timeout, http2=False)
    http = GraphClientFactory.create_with_custom_middleware(_middleware(settings), client=http)
    auth: AuthenticationProvider
    if credential is None:
        auth = AnonymousAuthenticationProvider()
    else:
        auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE])
    adapter: GraphRequestAdapter = GraphRequestAdapter(auth, client=http)
    # No trailing slash: httpx adds one of its own and '//users' is a 400 at Graph.
    adapter.base_url = f"{settings.graph_base_url}/v1.0"
    return GraphServiceClient(request_adapter=adapter)


