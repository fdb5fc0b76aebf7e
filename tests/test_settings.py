
import pytest

from shared.errors import ConfigurationError
from shared.settings import load_settings


def test_defaults_need_no_environment() -> None:
    settings = load_settings({})
    assert settings.jobs_table == "mfaopsjobs"
    assert settings.graph_base_url == "https://graph.microsoft.com"


def test_a_bad_setting_is_named_and_its_value_is_not_shown() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings({"GRAPH_MAX_RETRIES": "lots-and-lots", "LOG_LEVEL": "chatty"})
    message = str(info.value)
    assert "GRAPH_MAX_RETRIES" in message and "LOG_LEVEL" in message
    assert "lots-and-lots" not in message and "chatty" not in message


def test_secrets_never_show_in_repr_or_errors() -> None:
    secret = "AccountKey=super-secret-value"
    settings = load_settings({"TABLE_CONNECTION_STRING": secret})
    assert secret not in repr(settings) and secret not in str(settings)
    assert settings.table_connection_string.get_secret_value() == secret
    with pytest.raises(ConfigurationError) as info:
        load_settings({"TABLE_CONNECTION_STRING": secret, "JOB_UPDATE_RETRIES": "0"})
    assert secret not in str(info.value)


def test_trailing_slashes_are_dropped_from_base_urls() -> None:
    assert load_settings({"GRAPH_BASE_URL": "http://127.0.0.1:9/graph/"}).graph_base_url == "http://127.0.0.1:9/graph"


def test_an_unresolved_key_vault_reference_is_refused_naming_the_setting() -> None:
    import pytest

    from shared.errors import ConfigurationError
    from shared.settings import load_settings

    reference = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/webhook/)"
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"SERVICENOW_WEBHOOK_SECRET": reference, "JOB_ID_KEY": reference})
    message = str(caught.value)
    assert "SERVICENOW_WEBHOOK_SECRET" in message and "JOB_ID_KEY" in message and "Key Vault" in message
    assert "kv.vault.azure.net" not in message


@pytest.mark.parametrize("url", ["https://graph.microsoft.com", "http://evil.example/graph", "http://10.0.0.1/graph",
                                 "http://127.0.0.1.evil.example/graph"])
def test_unauthenticated_graph_is_refused_off_loopback(url: str) -> None:
    """Issue 23, finding 12."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"GRAPH_AUTH": "none", "GRAPH_BASE_URL": url})
    assert "GRAPH_AUTH=none" in str(caught.value) and "loopback" in str(caught.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:7071/graph", "http://localhost:8080/graph", "http://[::1]:1/graph"])
def test_unauthenticated_graph_is_allowed_on_loopback(url: str) -> None:
    assert load_settings({"GRAPH_AUTH": "none", "GRAPH_BASE_URL": url}).graph_auth == "none"
