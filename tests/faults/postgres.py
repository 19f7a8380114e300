"""A private PostgreSQL server that a fault test may stop and start under a live service.

Never the shared server: initdb into a fresh directory, TCP on a free loopback port, no
Unix socket. The binaries are the ones the `pgserver` dependency ships, so CI needs no
system package (copied where the server's OS user can reach them, see `_bin_for`). PostgreSQL refuses to run as root, so under root the server runs as the
`postgres` OS user (or the `pgserver` user that pgserver itself would create).
"""

from __future__ import annotations

import atexit
import functools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pgserver

INSTALL = Path(pgserver.__file__).parent / "pginstall"
START_TIMEOUT_SECONDS = 15


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _os_user() -> str | None:
    """Who runs the server: ourselves, unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
        return "postgres"
    except KeyError:
        from pgserver.utils import ensure_user_exists

        ensure_user_exists("pgserver")
        return "pgserver"


@functools.cache
def _bin_for(user: str | None) -> Path:
    """pgserver's binaries, where `user` can run them.

    Under root the server runs as another user, who may not traverse the directory
    this checkout lives in (`mktemp -d` makes it 0700): then a copy of the 34 MB
    install under a world-readable temporary directory, made once per session.
    """
    if user is None:
        return INSTALL / "bin"
    root = Path(tempfile.mkdtemp(prefix="omniroute-pginstall-"))
    atexit.register(shutil.rmtree, root, True)
    # The binaries find their vendored libraries at $ORIGIN/../../../pgserver.libs:
    # keep that layout.
    copy = root / "pgserver" / "pginstall"
    shutil.copytree(INSTALL, copy, symlinks=True)
    libs = INSTALL.parent.parent / "pgserver.libs"
    if libs.is_dir():
        shutil.copytree(libs, root / "pgserver.libs", symlinks=True)
    for path in (root, *root.rglob("*")):
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o055)  # group/other: read and traverse
    return copy / "bin"


class LocalPostgres:
    """initdb once; `start()` and `stop()` (fast shutdown) as often as needed, same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self._user = _os_user()
        self._root = Path(tempfile.mkdtemp(prefix="omniroute-pg-"))
        self._data = self._root / "data"
        if self._user is not None:
            shutil.chown(self._root, self._user)
        self._run(
            "initdb", "-D", str(self._data), "-U", "postgres", "-A", "trust", "-N"
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            "-c unix_socket_directories='' -c fsync=off"
        )
        self._pg_ctl("start", "-o", options, "-l", str(self._root / "log"))

    def stop(self) -> None:
        """Fast shutdown: sessions are terminated (57P01), then the postmaster exits."""
        self._pg_ctl("stop", "-m", "fast")

    def remove(self) -> None:
        if (self._data / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self._root, ignore_errors=True)

    def begin_smart_shutdown(self) -> None:
        """Ask for a smart shutdown and return: the server refuses new sessions with
        57P03 until the open ones end, then exits."""
        self._run("pg_ctl", "-D", str(self._data), "-W", "stop", "-m", "smart")

    def _pg_ctl(self, action: str, *args: str) -> None:
        timeout = str(START_TIMEOUT_SECONDS)
        self._run("pg_ctl", "-D", str(self._data), "-w", "-t", timeout, action, *args)

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [str(_bin_for(self._user) / program), *args],
            check=True,
            capture_output=True,
            user=self._user,
            cwd=self._root,
            timeout=START_TIMEOUT_SECONDS + 15,
        )
