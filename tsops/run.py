"""``make run``: embedded services, migrations, demo data, then web + worker + beat.

Ctrl-C stops the web server, the worker and beat, and the embedded servers this
run started (servers that were already running are left as they were).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tsops import embedded

ROOT = Path(__file__).resolve().parent.parent


def _port() -> int:
    raw = os.environ.get("PORT", "8000")
    try:
        port = int(raw)
    except ValueError:
        raise SystemExit(f"PORT must be an integer between 1 and 65535, got {raw!r}") from None
    if not 0 < port < 65536:
        raise SystemExit(f"PORT must be an integer between 1 and 65535, got {raw!r}")
    return port


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True, cwd=ROOT)


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt


def _commands(port: int) -> dict[str, list[str]]:
    """The web server, the Celery worker and beat, each as a command line."""
    bin_dir = Path(sys.executable).parent
    data = embedded.data_dir()
    data.mkdir(parents=True, exist_ok=True)
    return {
        "web": [
            str(bin_dir / "gunicorn"),
            "tsops.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "3",
            "--threads",
            "2",
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "5",
        ],
        "worker": [
            str(bin_dir / "celery"),
            "-A",
            "tsops",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--hostname",
            "worker@%h",
        ],
        "beat": [
            str(bin_dir / "celery"),
            "-A",
            "tsops",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(data / "celerybeat-schedule"),
        ],
    }


def _greet(port: int) -> None:
    """Where to sign in and as whom, once everything has started."""
    print(
        "\n"
        f"  TSOps is running at http://127.0.0.1:{port}/\n"
        "  Sign in as associate, analyst, senior, support, childsafety, threats, fraud\n"
        "  or legal"
        f" with the password {os.environ.get('TSOPS_DEMO_PASSWORD', 'tsops-demo-pass')!r}"
        " (senior is also an admin).\n"
        "  Press Ctrl-C to stop.\n",
        flush=True,
    )


def _stop_all(procs: list[subprocess.Popen]) -> None:
    """SIGTERM to every child still running; what has not exited within 15 s is killed."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    port = _port()
    # SIGTERM (a service manager, `kill`) stops everything like Ctrl-C does, and so does SIGINT
    # even when a shell started this in the background with SIGINT ignored.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tsops.settings")
    started = embedded.ensure_services()
    procs: list[subprocess.Popen] = []
    try:
        _manage("check", "--fail-level", "ERROR")
        _manage("migrate", "--noinput")
        _manage("seed_demo", "--if-empty")
        commands = _commands(port)
        for name, command in commands.items():
            procs.append(subprocess.Popen(command, cwd=ROOT))
            print(f"[tsops] started {name} (pid {procs[-1].pid})", flush=True)
        _greet(port)
        while all(proc.poll() is None for proc in procs):
            time.sleep(0.5)
        failed = [proc for proc in procs if proc.poll() not in (None, 0)]
        return 1 if failed else 0
    except KeyboardInterrupt:
        print("\n[tsops] stopping…", flush=True)
        return 0
    except subprocess.CalledProcessError as exc:
        print(
            f"[tsops] {' '.join(exc.cmd[1:3])} failed with exit code {exc.returncode}", flush=True
        )
        return exc.returncode
    finally:
        _stop_all(procs)
        if started:
            embedded.stop_services(started)


if __name__ == "__main__":
    raise SystemExit(main())
