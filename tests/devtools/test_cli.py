"""The `omniroute` console script without the dev extra: runtime commands work, dev explains."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# None in sys.modules makes `import name` raise ImportError, as in an install
# without the dev extra.
_WITHOUT_DEV_EXTRA = (
    "import sys\n"
    "for name in ('pgserver', 'confluent_kafka', 'jsonschema'):\n"
    "    sys.modules[name] = None\n"
    "from devtools.cli import main\n"
    "main({argv!r})\n"
)


def _omniroute(tmp_path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIROUTE_")}
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_DEV_EXTRA.format(argv=argv)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["serve"], "OMNIROUTE_DATABASE_URL", id="serve"),
        pytest.param(["migrate"], "OMNIROUTE_DATABASE_URL", id="migrate"),
        pytest.param(["dev"], "install omniroute[dev]", id="dev"),
    ],
)
def test_without_the_dev_extra_commands_exit_2_saying_why(tmp_path, argv, message):
    result = _omniroute(tmp_path, argv)

    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
