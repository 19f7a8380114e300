"""The console script fails fast, naming the missing configuration."""

from __future__ import annotations

import os
import subprocess
import sys


def test_serve_without_database_url_exits_2_naming_the_variable(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIROUTE_")}
    result = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main(['serve'])"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "OMNIROUTE_DATABASE_URL" in result.stderr


def test_serve_rejects_a_non_postgres_url(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIROUTE_")}
    env["OMNIROUTE_DATABASE_URL"] = "mysql://root@localhost/db"
    result = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main(['serve'])"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "must be a postgresql:// URL" in result.stderr


def test_serve_requires_a_kafka_bootstrap_address(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIROUTE_")}
    env["OMNIROUTE_DATABASE_URL"] = "postgresql://postgres@127.0.0.1:5432/postgres"
    result = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main(['serve'])"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "OMNIROUTE_KAFKA_BOOTSTRAP_SERVERS" in result.stderr
