"""What a decision under a section is measured by, read in one statement
(``enforcement.selectors.decision_rules``): the section's current version with its policy, the
strike policy in force and the section's user-message template in use — the same answers as
``current_section``, ``strikes.strike_policy`` and ``response_templates_for`` give alone."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from enforcement import responses, selectors, services, strikes
from enforcement.models import StrikePolicy

pytestmark = pytest.mark.django_db


def template(senior, title: str, kind: str = "message", code: str = "SPAM-1.1"):
    return responses.response_template_create(
        actor=senior, section_code=code, kind=kind, title=title, body=f"{title}: we {{action}}."
    )


def test_one_query_reads_the_current_section_the_strike_policy_and_the_message_in_use(
    senior, django_assert_num_queries
):
    first = services.current_section("SPAM-1.1")
    revised = services.policy_section_revise(actor=senior, section=first, title="Spam, revised")
    # Out of use or of another kind: each would come first by title otherwise.
    retired = template(senior, "0 retired")
    responses.response_template_retire(actor=senior, template_id=retired.pk)
    superseded = template(senior, "1 revised")
    template(senior, "0 snippet", kind="rationale")
    template(senior, "0 other section", code="SPAM-1.2")
    later = template(senior, "3 later")
    in_use = responses.response_template_revise(
        actor=senior, template_id=superseded.pk, title="2 in use", body="We {action}."
    )
    with django_assert_num_queries(1):
        rules = selectors.decision_rules("SPAM-1.1")
        assert rules.section.pk == revised.pk and rules.section.version == 2
        assert rules.section.policy.code == first.policy.code
        assert rules.message_template == in_use
        # The statement draft reads the template loaded with the section.
        assert selectors.message_template_for(rules.section) == in_use
    assert selectors.response_templates_for(section="SPAM-1.1")["message"] == [in_use, later]
    assert rules.strike_policy == strikes.strike_policy()


def test_a_section_without_a_current_version_is_none_and_refused_as_input(senior):
    rules = selectors.decision_rules("NOPE-9.9")
    assert rules.section is None and rules.message_template is None
    assert rules.strike_policy == strikes.strike_policy()
    with pytest.raises(ValidationError, match="No current policy section"):
        services.current_section("NOPE-9.9")


def test_a_section_without_a_message_template_drafts_the_generic_statement(senior):
    template(senior, "snippet only", kind="rationale")
    rules = selectors.decision_rules("SPAM-1.1")
    assert rules.message_template is None
    text, used = services.statement_draft(rules.section, [])
    assert used is None and text.startswith("We reviewed your content under our policy SPAM-1.1")


def test_the_strike_policy_in_force_is_the_first_configured_else_the_default():
    StrikePolicy.objects.all().delete()
    default = selectors.decision_rules("SPAM-1.1").strike_policy
    assert default.pk is None and default.name == "Default" and default.expiry_days == 90
    assert strikes.strike_policy().ladder == default.ladder
    first = StrikePolicy.objects.create(name="First", expiry_days=30, ladder=[[1, "warn", None]])
    StrikePolicy.objects.create(name="Second", expiry_days=60)
    in_force = selectors.decision_rules("SPAM-1.1").strike_policy
    assert in_force == first == strikes.strike_policy()
    assert (in_force.expiry_days, in_force.ladder) == (30, [[1, "warn", None]])
