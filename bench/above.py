"""Benchmarks of the layer above the single case: ``python -m bench.above``. See bench/README.md.

    .venv/bin/python -m bench.above --accounts 1000000 --only network

Creates (and drops first) a scratch database, migrates it, loads ``--small`` accounts with
their identifier links (``bench/above_load.py``), measures, grows to ``--accounts`` and
measures again. Each part is a module:

- ``network`` (here): expansion two hops out from sampled accounts, p95 through
  ``GET /api/v1/accounts/{id}/network`` against the raw ``WITH RECURSIVE`` SQL returning the
  same rows, and p95 at the large size against the small one;
- ``clusters`` (``bench/above_clusters.py``) and ``waves`` (``bench/above_waves.py``), when
  present: each exposes ``measure(database_url, args) -> dict`` and is called once the large
  size is loaded.

Figures are printed and written to ``bench/results/above-<part>.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import sys
import time

from bench.__main__ import ROOT, _log, _scratch_database, p95

RESULTS = ROOT / "bench" / "results"
OTHER_PARTS = {"clusters": "bench.above_clusters", "waves": "bench.above_waves"}

# The raw baseline: the same network read by one recursive statement (nodes with their depth
# and standing; links between every two nodes sharing an identifier that is no hub and that a
# node short of the last hop holds; the hub identifiers those nodes reached), without the
# console's visibility rule or access log.
RAW_NETWORK_SQL = """
WITH RECURSIVE walk(account_id, depth) AS (
    SELECT %(seed)s::bigint, 0
  UNION
    SELECT j.account_id, w.depth + 1
    FROM walk w
    JOIN cases_identifier i ON i.account_id = w.account_id
    JOIN cases_identifier j ON j.kind = i.kind AND j.value_hash = i.value_hash
    WHERE w.depth < %(hops)s
      AND (SELECT count(*) FROM (SELECT 1 FROM cases_identifier h WHERE h.kind = i.kind
           AND h.value_hash = i.value_hash LIMIT %(over)s) c) < %(over)s
),
nodes AS (SELECT account_id, min(depth) AS depth FROM walk GROUP BY account_id),
own AS (
    SELECT n.account_id, n.depth, i.kind, i.value_hash, i.masked, i.created_at, i.last_seen,
           (SELECT count(*) FROM (SELECT 1 FROM cases_identifier h WHERE h.kind = i.kind
            AND h.value_hash = i.value_hash LIMIT %(over)s) c) AS holders
    FROM nodes n JOIN cases_identifier i ON i.account_id = n.account_id
    WHERE n.depth < %(hops)s
),
shared AS (SELECT DISTINCT kind, value_hash FROM own WHERE holders < %(over)s),
held AS (
    SELECT i.kind, i.value_hash, i.masked, i.account_id, i.created_at, i.last_seen
    FROM shared s
    JOIN cases_identifier i ON i.kind = s.kind AND i.value_hash = s.value_hash
    JOIN nodes n ON n.account_id = i.account_id
)
SELECT 'node', s.external_id, n.depth::text, NULL, NULL,
       (SELECT count(*) FROM cases_case c WHERE c.subject_id = n.account_id
        AND c.status <> 'resolved')::text,
       (SELECT coalesce(sum(k.points), 0) FROM enforcement_strike k
        WHERE k.account_id = n.account_id AND k.voided_at IS NULL
        AND k.expires_at > now())::text
FROM nodes n JOIN cases_subject s ON s.id = n.account_id
UNION ALL
SELECT 'edge', a.account_id::text, b.account_id::text, a.kind, a.masked,
       least(a.created_at, b.created_at)::text, greatest(a.last_seen, b.last_seen)::text
FROM held a JOIN held b ON b.kind = a.kind AND b.value_hash = a.value_hash
  AND b.account_id > a.account_id
UNION ALL
SELECT DISTINCT 'hub', o.account_id::text, o.kind, o.value_hash, o.masked, NULL, NULL
FROM own o WHERE o.holders >= %(over)s
"""


def sample_seeds(small: int, count: int) -> list[int]:
    """Accounts inside the small prefix (so both sizes expand the same seeds): half of them
    ring members, half ordinary accounts."""
    from bench.above_load import ring_member

    rng = random.Random(16)
    ring = [g for g in range(small) if ring_member(g)]
    plain = [g for g in range(small) if not ring_member(g)]
    half = count // 2
    return rng.sample(ring, min(half, len(ring))) + rng.sample(plain, count - min(half, len(ring)))


class NetworkBench:
    """p95 of a two-hop expansion through the API and by raw SQL, at two sizes."""

    def __init__(self, args):
        self.args = args
        self.seeds = sample_seeds(args.small, args.samples)

    def setup(self) -> None:
        from rest_framework.test import APIClient

        from tsops.services import api_key_create, member_create_or_update

        self.analyst = member_create_or_update(username="bench-network-analyst", role="analyst")
        _, secret = api_key_create(user=self.analyst, name="bench", scopes=["cases:read"])
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    def _api(self, g: int) -> dict:
        response = self.client.get(
            f"/api/v1/accounts/bench-acct-{g}/network", {"hops": self.args.hops}
        )
        assert response.status_code == 200, (g, response.status_code, response.content[:300])
        return response.json()

    def _raw(self, cursor, g: int) -> list[tuple]:
        from django.conf import settings

        cursor.execute(
            "SELECT id FROM cases_subject WHERE kind = 'account' AND external_id = %s",
            [f"bench-acct-{g}"],
        )
        seed = cursor.fetchone()[0]
        cursor.execute(
            RAW_NETWORK_SQL,
            {"seed": seed, "hops": self.args.hops, "over": settings.TSOPS_NETWORK_HUB_LIMIT + 1},
        )
        return cursor.fetchall()

    def measure(self, label: str) -> dict:
        import psycopg2
        from django.db import connection

        raw = psycopg2.connect(**connection.get_connection_params())
        raw.autocommit = True
        same, sizes = 0, []
        with raw.cursor() as cursor:
            for g in self.seeds[:5]:  # warm caches and plans
                self._api(g)
                self._raw(cursor, g)
            api_samples, raw_samples = [], []
            for g in self.seeds:
                started = time.perf_counter()
                answer = self._api(g)
                api_samples.append(time.perf_counter() - started)
                started = time.perf_counter()
                rows = self._raw(cursor, g)
                raw_samples.append(time.perf_counter() - started)
                api_nodes = {n["external_id"] for n in answer["nodes"] if n["kind"] == "account"}
                raw_nodes = {r[1] for r in rows if r[0] == "node"}
                raw_edges = sum(1 for r in rows if r[0] == "edge")
                api_edges = sum(1 for e in answer["edges"] if not e["target"].startswith("hub-"))
                same += api_nodes == raw_nodes and (api_edges == raw_edges or answer["truncated"])
                sizes.append(len(api_nodes))
        raw.close()
        out = {
            "api_p95_ms": p95(api_samples) * 1000,
            "raw_p95_ms": p95(raw_samples) * 1000,
            "same_rows": f"{same}/{len(self.seeds)}",
            "nodes_p50": sorted(sizes)[len(sizes) // 2],
            "nodes_max": max(sizes),
        }
        out["ratio"] = out["api_p95_ms"] / out["raw_p95_ms"]
        _log(
            f"  {label}: API p95 {out['api_p95_ms']:.1f} ms, raw SQL p95 "
            f"{out['raw_p95_ms']:.1f} ms (×{out['ratio']:.2f}), same rows {out['same_rows']}, "
            f"nodes p50 {out['nodes_p50']} max {out['nodes_max']}"
        )
        return out


def report_network(figures: dict) -> str:
    small, large = figures["small"], figures["large"]
    flat = large["api_p95_ms"] / small["api_p95_ms"]
    lines = [
        f"Network of linked accounts — {figures['accounts']:,} accounts, "
        f"{figures['identifier_links']:,} identifier links "
        f"(compared with {figures['small_accounts']:,}); {figures['samples']} seeds, "
        f"{figures['hops']} hops",
        "",
        f"{'figure':<44}{'TSOps':>10}{'baseline':>11}{'ratio':>8}{'target':>9}  ok",
        f"{'2-hop p95 ms, API vs raw recursive SQL':<44}{large['api_p95_ms']:>10.1f}"
        f"{large['raw_p95_ms']:>11.1f}{large['ratio']:>8.2f}{'<= 2.0':>9}  "
        f"{'yes' if large['ratio'] <= 2 else 'NO'}",
        f"{'  same at the small size':<44}{small['api_p95_ms']:>10.1f}"
        f"{small['raw_p95_ms']:>11.1f}{small['ratio']:>8.2f}",
        f"{'2-hop API p95 ms, large vs small':<44}{large['api_p95_ms']:>10.1f}"
        f"{small['api_p95_ms']:>11.1f}{flat:>8.2f}{'<= 1.5':>9}  {'yes' if flat <= 1.5 else 'NO'}",
        f"{'same rows as the raw SQL (large, small)':<44}{large['same_rows']:>10}"
        f"{small['same_rows']:>11}",
    ]
    return "\n".join(lines)


def _existing_database(name: str) -> str:
    """The URL of an already loaded scratch database on the configured server."""
    from urllib.parse import urlparse

    return urlparse(os.environ["DATABASE_URL"])._replace(path=f"/{name}").geturl()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.above", description=__doc__)
    parser.add_argument("--accounts", type=int, default=1_000_000, help="large size (1M)")
    parser.add_argument("--small", type=int, default=10_000, help="small size (10k)")
    parser.add_argument("--samples", type=int, default=100, help="seeds per measurement")
    parser.add_argument("--hops", type=int, default=2)
    parser.add_argument("--database", default="tsops_bench_above", help="scratch database name")
    parser.add_argument("--only", default="network,clusters,waves", help="comma-separated parts")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the large size again on the database a previous run loaded (no drop, "
        "no load; the small figures are that run's, from bench/results/above-network.json)",
    )
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    database_url = _existing_database(args.database) if args.reuse else None
    database_url = database_url or _scratch_database(args.database)
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tsops.settings")
    os.environ.setdefault("API_THROTTLE_USER", "100000000/min")
    import django

    django.setup()
    from django.core.management import call_command

    from bench.above_load import counts, load_accounts

    parts = [p for p in args.only.split(",") if p]
    _log("migrating the scratch database…")
    call_command("migrate", verbosity=0)
    network = NetworkBench(args) if "network" in parts else None
    if network:
        network.setup()
    started = time.monotonic()
    if args.reuse:
        previous = json.loads((RESULTS / "above-network.json").read_text())
        small = previous["small"]
    else:
        _log(f"loading {args.small:,} accounts…")
        load_accounts(0, args.small)
        small = network.measure(f"{args.small:,} accounts") if network else None
        _log(f"growing to {args.accounts:,} accounts…")
        load_accounts(args.small, args.accounts)
    loaded = counts()
    _log(
        f"  {loaded['accounts']:,} accounts, {loaded['identifier_links']:,} identifier links "
        f"loaded in {time.monotonic() - started:,.0f} s"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    if network:
        large = network.measure(f"{args.accounts:,} accounts")
        figures = {
            **loaded,
            "small_accounts": args.small,
            "samples": len(network.seeds),
            "hops": args.hops,
            "small": small,
            "large": large,
            "flat_ratio": large["api_p95_ms"] / small["api_p95_ms"],
        }
        text = report_network(figures)
        print(text)
        (RESULTS / "above-network.json").write_text(json.dumps(figures, indent=2))
    for part, module_name in OTHER_PARTS.items():
        if part not in parts:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            _log(f"{part}: {module_name} is not there yet; skipped")
            continue
        _log(f"{part}…")
        result = module.measure(database_url, args)
        print(json.dumps({part: result}, indent=2, default=str))
        (RESULTS / f"above-{part}.json").write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
