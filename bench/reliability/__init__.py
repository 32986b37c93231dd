"""The reliability harness: TSOps under load and faults (issue 9). See bench/README.md.

``python -m bench.reliability`` starts a private PostgreSQL and Redis in a temporary folder
(never the shared embedded servers or the machine's services), runs TSOps over them as in
production (gunicorn with several workers, Celery workers, beat), drives it with client
processes, injects faults (SIGKILL, Redis stopped or frozen, PostgreSQL restarted or
crashed), checks the invariants with SQL and prints a table.

The same scenarios, with small sizes, are the tests in ``tests/reliability/``.

Modules: ``stack`` (private servers and TSOps processes), ``clients`` (load generators; no
Django import, so dozens of them stay light), ``seed`` (data set-up, run as a subprocess
with Django against the scenario's database), ``scenarios`` (drive, inject, check).
"""
