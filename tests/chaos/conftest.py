from tests.reset.conftest import sandbox, sandbox_env  # noqa: F401 - the end-to-end fixtures, shared
