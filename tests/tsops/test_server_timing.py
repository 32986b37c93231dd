"""Every response says how long the server worked on it and waited on the database."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def test_responses_carry_server_timing(analyst, api_client_for):
    response = api_client_for(analyst, ["cases:read"]).get("/api/v1/queues")
    assert response.status_code == 200
    match = re.fullmatch(r"app;dur=([\d.]+), db;dur=([\d.]+)", response["Server-Timing"])
    app, db = map(float, match.groups())
    # The queue list reads the database; its wait is part of the request's time.
    assert 0 < db <= app
