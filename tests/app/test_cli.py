"""The console script fails fast, naming the missing configuration."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _serve(tmp_path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIROUTE_")}
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main(['serve'])"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        pytest.param({}, "OMNIROUTE_DATABASE_URL", id="no-database-url"),
        pytest.param(
            {"OMNIROUTE_DATABASE_URL": "mysql://root@localhost/db"},
            "must be a postgresql:// URL",
            id="not-postgres",
        ),
        pytest.param(
            {"OMNIROUTE_DATABASE_URL": "postgresql://postgres@127.0.0.1/postgres"},
            "OMNIROUTE_KAFKA_BOOTSTRAP_SERVERS",
            id="no-kafka",
        ),
    ],
)
def test_serve_exits_2_naming_what_is_missing(tmp_path, variables, message):
    result = _serve(tmp_path, **variables)

    assert result.returncode == 2
    assert message in result.stderr
