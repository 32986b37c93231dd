"""Response templates: versioning like policy sections, the variables a user message may use,
rendering into the statement draft, who may keep them, and the rationale snippets endpoint."""

from __future__ import annotations

import html

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from cases import services as case_services
from enforcement import responses, services
from enforcement.appeal_window import appeal_deadline
from enforcement.models import Decision, ResponseTemplate
from enforcement.selectors import response_templates_for
from tests.factories import make_case

pytestmark = pytest.mark.django_db

MESSAGE = (
    "Under “{section_title}” we {action} ({duration}). Appeal until {appeal_deadline}. "
    "Braces stay: {{ok}}."
)


@pytest.fixture
def message(senior) -> ResponseTemplate:
    return responses.response_template_create(
        actor=senior, section_code="SPAM-1.1", kind="message", title="Notice", body=MESSAGE
    )


@pytest.fixture
def snippet(senior) -> ResponseTemplate:
    return responses.response_template_create(
        actor=senior,
        section_code="SPAM-1.1",
        kind="rationale",
        title="Link farm <b>",
        body='Same link 40 times; "quoted" & <script>alert(1)</script>',
    )


# --- Versioning -------------------------------------------------------------------------------


def test_editing_makes_version_two_and_leaves_version_one_as_it_was(senior, message):
    revised = responses.response_template_revise(
        actor=senior, template_id=message.pk, title="Notice", body="We {action}."
    )
    old = ResponseTemplate.objects.get(pk=message.pk)
    assert (revised.version, revised.key, revised.body) == (2, message.key, "We {action}.")
    assert old.body == MESSAGE and old.version == 1 and old.superseded_at is not None
    assert response_templates_for(section="SPAM-1.1")["message"] == [revised]


def test_revising_an_old_version_revises_the_current_one(senior, message):
    responses.response_template_revise(
        actor=senior, template_id=message.pk, title="Notice", body="We {action}."
    )
    third = responses.response_template_revise(
        actor=senior, template_id=message.pk, title="Notice", body="We did {action}."
    )
    assert third.version == 3
    assert ResponseTemplate.objects.filter(key=message.key).count() == 3


def test_unchanged_text_makes_no_new_version(senior, message):
    same = responses.response_template_revise(
        actor=senior, template_id=message.pk, title="Notice", body=MESSAGE
    )
    assert same.pk == message.pk and ResponseTemplate.objects.count() == 1


def test_a_retired_template_is_out_of_use_and_cannot_be_revised(senior, message):
    responses.response_template_retire(actor=senior, template_id=message.pk)
    assert response_templates_for(section="SPAM-1.1")["message"] == []
    with pytest.raises(responses.TemplateConflict):
        responses.response_template_revise(
            actor=senior, template_id=message.pk, title="x", body="y"
        )


def test_a_decision_records_the_template_version_its_statement_was_drafted_from(
    platform_account, analyst, senior, message
):
    case = make_case(platform_account, reason="spam")
    case_services.case_claim(actor=analyst, case_id=case.pk)
    decision = services.decision_make(
        actor=analyst,
        case_id=case.pk,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale="spam",
        actions=[{"type": "suspend", "duration_hours": 168}],
    )
    decision = Decision.objects.get(pk=decision.pk)
    assert decision.response_template_id == message.pk
    assert "we suspend the account for 7 days (7 days)" in decision.statement_of_reasons
    # Revising afterwards leaves the decision with the version it used.
    responses.response_template_revise(
        actor=senior, template_id=message.pk, title="Notice", body="New {action}."
    )
    assert Decision.objects.get(pk=decision.pk).response_template_id == message.pk


def test_a_statement_written_by_hand_records_no_template(platform_account, analyst, message):
    case = make_case(platform_account, reason="spam")
    case_services.case_claim(actor=analyst, case_id=case.pk)
    decision = services.decision_make(
        actor=analyst,
        case_id=case.pk,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale="spam",
        statement_of_reasons="Written by hand.",
        actions=[{"type": "remove_content"}],
    )
    assert decision.response_template_id is None


# --- Variables --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("Hello {user_name}", "{user_name}"),
        ("{action.__class__}", "{action.__class__}"),
        ("{action[0]}", "{action[0]}"),
        ("{0}", "{0}"),
        ("{}", "{}"),
    ],
)
def test_an_unknown_variable_is_refused_by_name(senior, body, named):
    with pytest.raises(ValidationError) as caught:
        responses.response_template_create(
            actor=senior, section_code="SPAM-1.1", kind="message", title="t", body=body
        )
    assert named in " ".join(caught.value.message_dict["body"])
    assert not ResponseTemplate.objects.exists()


def test_a_format_spec_or_an_unmatched_brace_is_refused(senior):
    for body in ("{action:>20}", "{action!r}", "Oops { here"):
        with pytest.raises(ValidationError):
            responses.response_template_create(
                actor=senior, section_code="SPAM-1.1", kind="message", title="t", body=body
            )


def test_a_rationale_snippet_is_plain_text(senior):
    snippet = responses.response_template_create(
        actor=senior, section_code="SPAM-1.1", kind="rationale", title="t", body="{not a var}"
    )
    assert snippet.body == "{not a var}"


def test_the_form_names_the_bad_variable_with_a_400(client, senior):
    client.force_login(senior)
    response = client.post(
        reverse("enforcement:response-template-create"),
        {"section_code": "SPAM-1.1", "kind": "message", "title": "t", "body": "Hi {username}"},
    )
    assert response.status_code == 400
    assert "Unknown variable {username}" in response.content.decode()
    assert not ResponseTemplate.objects.exists()


# --- Rendering --------------------------------------------------------------------------------


@time_machine.travel("2026-12-04 10:00Z", tick=False)
def test_the_message_renders_each_variable(message):
    section = services.current_section("SPAM-1.1")
    text = responses.template_render(
        message.body,
        responses.message_values(
            section,
            [services.ActionRequest("remove_content"), services.ActionRequest("suspend", 168)],
        ),
    )
    closes = timezone.localtime(appeal_deadline(timezone.now()))
    assert text == (
        f"Under “{section.title}” we remove content and suspend the account for 7 days "
        f"(7 days). Appeal until {closes.day} {closes:%B %Y}. Braces stay: {{ok}}."
    )


def test_a_ban_lasts_permanently_and_content_actions_have_no_set_period():
    section = services.current_section("SPAM-1.1")
    ban = responses.message_values(section, [services.ActionRequest("ban")])
    removal = responses.message_values(section, [services.ActionRequest("remove_content")])
    assert ban["duration"] == "permanently" and ban["action"] == "ban the account permanently"
    assert removal["duration"] == "no set period"


def test_the_statement_draft_uses_the_sections_active_message(
    client, platform_account, analyst, message
):
    case = make_case(platform_account, reason="spam")
    case_services.case_claim(actor=analyst, case_id=case.pk)
    client.force_login(analyst)
    response = client.get(
        reverse("enforcement:case-draft-statement", args=[case.pk]),
        {
            "outcome": "violation",
            "policy_section": "SPAM-1.1",
            "action_0_type": "suspend",
            "action_0_duration": "7",
            "action_0_unit": "days",
        },
    )
    body = html.unescape(response.content.decode())
    assert response.status_code == 200
    assert "we suspend the account for 7 days (7 days)" in body


def test_without_a_template_the_draft_is_the_generic_one(client, platform_account, analyst):
    case = make_case(platform_account, reason="spam")
    client.force_login(analyst)
    response = client.get(
        reverse("enforcement:case-draft-statement", args=[case.pk]),
        {"outcome": "violation", "policy_section": "SPAM-1.1", "action_0_type": "remove_content"},
    )
    assert "We reviewed your content under our policy SPAM-1.1" in html.unescape(
        response.content.decode()
    )


def test_the_preview_renders_sample_values_or_names_the_problem(client, senior):
    client.force_login(senior)
    url = reverse("enforcement:response-template-preview")
    ok = client.post(url, {"kind": "message", "section_code": "SPAM-1.1", "body": "We {action}."})
    bad = client.post(url, {"kind": "message", "body": "Dear {name}"})
    assert "We suspend the account for 7 days." in ok.content.decode()
    assert "Unknown variable {name}" in bad.content.decode()


# --- Who may keep them ------------------------------------------------------------------------


def test_associates_and_analysts_may_not_create_revise_or_retire(associate, analyst, message):
    for actor in (associate, analyst):
        with pytest.raises(PermissionDenied):
            responses.response_template_create(
                actor=actor, section_code="SPAM-1.1", kind="message", title="t", body="b"
            )
        with pytest.raises(PermissionDenied):
            responses.response_template_revise(
                actor=actor, template_id=message.pk, title="t", body="b"
            )
        with pytest.raises(PermissionDenied):
            responses.response_template_retire(actor=actor, template_id=message.pk)
    assert ResponseTemplate.objects.get().retired_at is None


def test_the_list_is_read_only_for_analysts_and_refused_to_support(
    client, analyst, support_agent, senior, message
):
    url = reverse("enforcement:response-template-list")
    client.force_login(analyst)
    page = client.get(url)
    assert page.status_code == 200 and "Notice" in page.content.decode()
    assert reverse("enforcement:response-template-edit", args=[message.pk]) not in (
        page.content.decode()
    )
    assert (
        client.get(reverse("enforcement:response-template-edit", args=[message.pk])).status_code
        == 403
    )
    assert (
        client.post(reverse("enforcement:response-template-retire", args=[message.pk])).status_code
        == 403
    )
    client.force_login(support_agent)
    assert client.get(url).status_code == 403
    client.force_login(senior)
    assert reverse("enforcement:response-template-edit", args=[message.pk]) in (
        client.get(url).content.decode()
    )


def test_a_senior_edits_through_the_page_and_gets_a_new_version(client, senior, message):
    client.force_login(senior)
    url = reverse("enforcement:response-template-edit", args=[message.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"title": "Notice", "body": "We {action} for {duration}."})
    assert response.status_code == 302
    assert ResponseTemplate.objects.filter(key=message.key).count() == 2
    bad = client.post(url, {"title": "Notice", "body": "We {acton}."})
    assert bad.status_code == 400 and "Unknown variable {acton}" in bad.content.decode()


# --- Snippets ---------------------------------------------------------------------------------


def test_snippets_come_as_buttons_with_their_text_escaped_and_nothing_of_the_case(
    client, platform_account, analyst, snippet, message
):
    case = make_case(platform_account, reason="spam", description="REPORT-TEXT-MARKER")
    client.force_login(analyst)
    response = client.get(
        reverse("enforcement:case-snippets", args=[case.pk]), {"policy_section": "SPAM-1.1"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count("data-snippet-insert") == 1  # the message template is not a snippet
    assert 'data-snippet-text="Same link 40 times; &quot;quoted&quot; &amp; &lt;script&gt;' in body
    assert "<script>" not in body and "Link farm &lt;b&gt;" in body
    for leak in ("REPORT-TEXT-MARKER", case.subject.external_id, "Notice"):
        assert leak not in body


def test_snippets_by_section_id_unknown_section_and_hidden_case(
    client, platform_account, analyst, snippet
):
    case = make_case(platform_account, reason="spam")
    section = services.current_section("SPAM-1.1")
    client.force_login(analyst)
    url = reverse("enforcement:case-snippets", args=[case.pk])
    assert "data-snippet-insert" in client.get(url, {"policy_section": section.pk}).content.decode()
    assert client.get(url, {"policy_section": "NOPE-1"}).status_code == 400
    assert "data-snippet-insert" not in client.get(url).content.decode()
    restricted = make_case(platform_account, reason="child_safety")
    assert restricted.restricted
    hidden = client.get(
        reverse("enforcement:case-snippets", args=[restricted.pk]), {"policy_section": "SPAM-1.1"}
    )
    assert hidden.status_code == 404
