"""The case page's "repeat offender · N prior" counts every prior case; the list stays capped."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from cases.selectors import prior_cases
from tests.factories import make_case

pytestmark = pytest.mark.django_db

CASES = 23  # more than the 20 the list shows


@pytest.fixture
def repeat_cases(platform_account):
    return [
        make_case(
            platform_account,
            reason="spam",
            subject={"kind": "content", "external_id": f"post-rep-{n}", "owner_id": "acct-rep"},
        )
        for n in range(CASES)
    ]


def test_the_selector_counts_every_prior_case_but_lists_twenty(repeat_cases, analyst):
    prior = prior_cases(actor=analyst, case=repeat_cases[0])
    assert len(prior) == 20
    assert prior.total == CASES - 1
    assert repeat_cases[0].pk not in {case.pk for case in prior}


def test_the_case_page_shows_the_true_count(repeat_cases, analyst, client):
    client.force_login(analyst)
    response = client.get(reverse("cases:case-detail", args=[repeat_cases[-1].pk]))
    assert response.status_code == 200
    html = response.content.decode()
    badge = re.search(r'data-testid="repeat-offender"[^>]*>([^<]*)<', html).group(1)
    assert badge.strip() == f"repeat offender · {CASES - 1} prior"
    prior_section = html.split('data-testid="prior-cases"', 1)[1].split("</section>", 1)[0]
    assert prior_section.count("<tr><td><a href=") == 20
