"""Private PostgreSQL and Redis in a folder of their own, and TSOps's processes over them.

Nothing here touches the shared embedded servers (``.data``) or the machine's services: the
servers are :class:`tsops.embedded.EmbeddedPostgres` / :class:`~tsops.embedded.EmbeddedRedis`
instances whose data lives under the stack's base folder, so they can be stopped, frozen,
crashed and restarted at will. Every process is started in a session of its own and is
stopped (or killed) by its own process group id only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from tsops.embedded import PG_USER, EmbeddedPostgres, EmbeddedRedis

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TEMPLATE_DB = "tsops_rel_template"
SETTINGS = "bench.reliability.settings"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Proc:
    """A child process in its own session (so its whole group can be killed), logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict, logfile: Path):
        self.name, self.argv, self.env, self.logfile = name, argv, env, logfile
        self.popen: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        with self.logfile.open("a") as out:
            out.write(f"\n--- start {time.strftime('%H:%M:%S')}: {' '.join(self.argv)}\n")
            out.flush()
            self.popen = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def children(self) -> list[int]:
        import psutil

        try:
            return [c.pid for c in psutil.Process(self.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (the process and the children it forked)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)
        if sig == signal.SIGKILL:
            self.popen.wait(timeout=30)

    def stop(self, timeout: float = 20) -> None:
        if self.popen is None:
            return
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        # Whatever is left of the group (a prefork child, a gunicorn worker) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def wait_for_log(self, text: str, timeout: float = 60, since: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            content = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
            if text in content[since:]:
                return
            if not self.alive():
                raise RuntimeError(f"{self.name} exited:\n{self.tail()}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: no {text!r} within {timeout:.0f} s:\n{self.tail()}")

    def log_size(self) -> int:
        return self.logfile.stat().st_size if self.logfile.exists() else 0


@dataclass
class Web:
    proc: Proc
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        return self.proc.children()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=5):  # noqa: S310
                    return
            except urllib.error.HTTPError:
                return  # 503 from /healthz is an answer: the server runs
            except OSError:
                if not self.proc.alive():
                    raise RuntimeError(f"gunicorn exited:\n{self.proc.tail()}") from None
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s:\n{self.proc.tail()}")


@dataclass
class Database:
    """One database of the private server: a DSN for psycopg2 and a URL for TSOps."""

    stack: Stack
    name: str

    @property
    def url(self) -> str:
        host = quote(str(self.stack.pg.socket_dir), safe="")
        return f"postgres://{PG_USER}@{host}/{self.name}"

    def connect(self):
        import psycopg2

        conn = psycopg2.connect(
            host=str(self.stack.pg.socket_dir), user=PG_USER, dbname=self.name, connect_timeout=5
        )
        conn.autocommit = True
        return conn

    def rows(self, sql: str, params=None) -> list[tuple]:
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
        finally:
            conn.close()

    def value(self, sql: str, params=None):
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def execute(self, sql: str, params=None) -> int:
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.rowcount
        finally:
            conn.close()


@dataclass
class Stack:
    """The private servers of one harness run (or one test session) and its processes."""

    base: Path
    procs: list[Proc] = field(default_factory=list)
    receivers: list = field(default_factory=list)

    def __post_init__(self):
        self.base = Path(self.base)
        self.pg = EmbeddedPostgres(self.base)
        self.redis = EmbeddedRedis(self.base)
        self.logs = self.base / "logs"

    # --- servers ------------------------------------------------------------------------

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.pg.start()
        self.redis.start()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop(timeout=10)
        self.procs.clear()
        for receiver in self.receivers:
            receiver.stop()
        self.receivers.clear()
        redis_pid = self.redis.pid()
        if redis_pid:
            os.kill(redis_pid, signal.SIGCONT)  # a frozen Redis cannot stop
        self.redis.stop()
        self.pg.stop()

    @property
    def redis_url(self) -> str:
        return self.redis.url

    def admin(self) -> Database:
        return Database(self, "postgres")

    def template(self) -> Database:
        """A migrated database that scenarios copy (made once per stack and set of
        migrations: its name carries a digest of the migration files)."""
        import hashlib

        digest = hashlib.sha256()
        for path in sorted(ROOT.glob("*/migrations/*.py")):
            digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
        name = f"{TEMPLATE_DB}_{digest.hexdigest()[:10]}"
        admin = self.admin()
        if admin.value("SELECT 1 FROM pg_database WHERE datname = %s", [name]):
            return Database(self, name)
        log("migrating a template database…")
        admin.execute(f'CREATE DATABASE "{name}"')
        database = Database(self, name)
        try:
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
                cwd=ROOT,
                env=self.env(database),
                check=True,
                capture_output=True,
                text=True,
            )
        except subprocess.CalledProcessError as exc:
            admin.execute(f'DROP DATABASE "{name}"')
            raise RuntimeError(f"migrate failed:\n{exc.stdout}\n{exc.stderr}") from None
        return database

    def database(self, name: str) -> Database:
        """A fresh copy of the migrated template, and an empty broker (no task left over
        from an earlier scenario may run against this database)."""
        self.redis_flush()
        template = self.template().name
        admin = self.admin()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return Database(self, name)

    def redis_flush(self) -> None:
        import redis

        client = redis.Redis(unix_socket_path=str(self.redis.socket_path), socket_timeout=5)
        try:
            client.flushall()
        finally:
            client.close()

    def redis_stop(self) -> None:
        self.redis.stop()

    def redis_start(self) -> None:
        self.redis.start()

    def redis_freeze(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, nothing is ever answered."""
        os.kill(self.redis.pid(), signal.SIGSTOP)

    def redis_thaw(self) -> None:
        os.kill(self.redis.pid(), signal.SIGCONT)

    def pg_stop(self, mode: str = "fast") -> None:
        subprocess.run(
            [self.pg._bin("pg_ctl"), "-D", str(self.pg.pgdata), "-w", "-m", mode, "stop"],
            user=self.pg._run_as(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )

    def pg_start(self) -> None:
        self.pg.start()

    def pg_log(self) -> str:
        try:
            return self.pg.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # --- processes ----------------------------------------------------------------------

    def env(self, database: Database, **extra) -> dict:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TSOPS_", "DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": SETTINGS,
                "TSOPS_ENV": "demo",
                "DATABASE_URL": database.url,
                "REDIS_URL": self.redis_url,
                "API_THROTTLE_USER": "100000000/min",
                "LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def _spawn(self, name: str, argv: list[str], env: dict) -> Proc:
        proc = Proc(name, argv, env, self.logs / f"{name}.log")
        self.procs.append(proc)
        return proc

    def web(self, database: Database, *, workers: int = 4, threads: int = 4, **env) -> Web:
        port = free_port()
        proc = self._spawn(
            f"web-{port}",
            [
                str(BIN / "gunicorn"),
                "tsops.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--timeout",
                "30",
                "--graceful-timeout",
                "5",
                "--log-level",
                "warning",
            ],
            self.env(database, **env),
        )
        web = Web(proc, port)
        web.wait_ready()
        return web

    def worker(self, database: Database, *, concurrency: int = 2, name: str = "", **env) -> Proc:
        name = name or f"worker-{uuid.uuid4().hex[:6]}"
        proc = self._spawn(
            name,
            [
                str(BIN / "celery"),
                "-A",
                "tsops",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(concurrency),
                "--hostname",
                f"{name}@rel",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            self.env(database, LOG_LEVEL="INFO", **env),
        )
        proc.wait_for_log("ready.", timeout=90)
        return proc

    def restart_worker(self, proc: Proc) -> None:
        since = proc.log_size()
        proc.restart()
        proc.wait_for_log("ready.", timeout=90, since=since)

    def beat(self, database: Database, *, scale: float = 1, **env) -> Proc:
        name = f"beat-{uuid.uuid4().hex[:6]}"
        return self._spawn(
            name,
            [
                str(BIN / "celery"),
                "-A",
                "tsops",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(self.base / f"{name}-schedule"),
            ],
            self.env(database, RELIABILITY_BEAT_SCALE=scale, LOG_LEVEL="INFO", **env),
        )

    def receiver(
        self, *, delay_ms: int = 0, secret: str = "", kill_pid: int = 0, kill_after: int = 0
    ) -> Receiver:
        receiver = Receiver(
            self, delay_ms=delay_ms, secret=secret, kill_pid=kill_pid, kill_after=kill_after
        )
        self.receivers.append(receiver)
        return receiver

    def client(self, name: str, args: list[str]) -> Proc:
        """A load client (``python -m bench.reliability.clients …``)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
        env["PYTHONPATH"] = str(ROOT)
        return self._spawn(name, [sys.executable, "-m", "bench.reliability.clients", *args], env)

    def django_client(self, name: str, database: Database, args: list[str]) -> Proc:
        """A client that calls the services directly, with Django, on ``database``."""
        return self._spawn(
            name,
            [sys.executable, "-m", "bench.reliability.clients", *args],
            self.env(database),
        )

    def seed(self, database: Database, ops: list[dict], timeout: float = 3600) -> list:
        """Run set-up operations in a Django subprocess; returns each operation's result."""
        result = subprocess.run(
            [sys.executable, "-m", "bench.reliability.seed"],
            input=json.dumps(ops),
            cwd=ROOT,
            env=self.env(database),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"seed failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def send_task(self, name: str) -> None:
        """Publish a task to the workers' queue (what beat or an on-commit kick does)."""
        from celery import Celery

        from tsops.config import celery_broker_url

        app = Celery("rel", broker=celery_broker_url(self.redis_url, 0))
        try:
            app.send_task(name, queue="tsops")
        finally:
            app.close()

    def forget(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)


_RECEIVER = r"""
import hashlib, hmac, json, os, signal, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

out = open(sys.argv[1], "a", buffering=1)
delay = int(sys.argv[2]) / 1000.0
secret = sys.argv[3].encode()
# Optionally SIGKILL a sender right after acknowledging its kill_after-th request (before the
# answer leaves): a dispatcher dying with its requests in flight, at a known moment.
kill_pid, kill_after = int(sys.argv[4]), int(sys.argv[5])
lock = threading.Lock()
seen = [0]

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        event_id = self.headers.get("X-TSOps-Event-Id", "")
        ok = True
        if secret:
            ts = self.headers.get("X-TSOps-Timestamp", "")
            expected = "sha256=" + hmac.new(secret, ts.encode() + b"." + body,
                                            hashlib.sha256).hexdigest()
            ok = hmac.compare_digest(expected, self.headers.get("X-TSOps-Signature", ""))
        try:
            ok = ok and json.loads(body).get("id") == event_id
        except ValueError:
            ok = False
        if delay:
            time.sleep(delay)
        # Written before the answer: an id in the file is one this receiver acknowledged
        # (or would have, had the sender still been there to read the answer).
        with lock:
            out.write(f"{event_id} {204 if ok else 400} {time.time():.3f}\n")
            seen[0] += 1
            if kill_pid and seen[0] == kill_after:
                os.kill(kill_pid, signal.SIGKILL)
        self.send_response(204 if ok else 400)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class Receiver:
    """A local webhook receiver in a process of its own: it checks each signature and writes
    every event id it acknowledges to a file."""

    def __init__(
        self,
        stack: Stack,
        *,
        delay_ms: int = 0,
        secret: str = "",
        kill_pid: int = 0,
        kill_after: int = 0,
    ):
        self.path = stack.logs / f"receiver-{uuid.uuid4().hex[:6]}.txt"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()
        self.secret = secret or uuid.uuid4().hex
        self.popen = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _RECEIVER,
                str(self.path),
                str(delay_ms),
                self.secret,
                str(kill_pid),
                str(kill_after),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        port = self.popen.stdout.readline().strip()
        if not port.isdigit():
            self.stop()
            raise RuntimeError("the receiver did not start")
        self.url = f"http://127.0.0.1:{port}/hook"

    def received(self) -> list[tuple[str, int]]:
        rows = []
        for line in self.path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2:
                rows.append((parts[0], int(parts[1])))
        return rows

    def acknowledged(self) -> list[str]:
        return [event_id for event_id, status in self.received() if status == 204]

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.5
) -> float:
    """Poll ``condition`` until true; returns the seconds it took (raises on timeout)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)
    return time.monotonic() - started
