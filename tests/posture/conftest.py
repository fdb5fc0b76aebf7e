import uuid

import pytest

from tests.reset.conftest import sandbox, sandbox_env  # noqa: F401 - the end-to-end fixtures, shared


@pytest.fixture(autouse=True)
def posture_tables(sandbox_env: dict[str, str]) -> None:  # noqa: F811 - the fixture imported above
    suffix = uuid.uuid4().hex[:10]
    sandbox_env.update({"POSTURE_TABLE": f"posture{suffix}", "MONITOR_TABLE": f"monitor{suffix}"})
