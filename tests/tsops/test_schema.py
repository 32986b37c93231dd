"""The OpenAPI schema is valid and every endpoint is described without warnings."""

import json

from django.core.management import call_command

from escalations.models import Team


def test_the_openapi_schema_validates_without_warnings(tmp_path, db):
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    for path in ("/api/v1/reports/bulk", "/api/v1/queues/{slug}/claim", "/api/v1/cases/{case_id}"):
        assert path in text


def test_swagger_ui_is_served_from_local_assets(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "<style" not in html and "cdn" not in html.lower()


def test_a_text_field_with_a_scheme_of_its_own_keeps_its_enum(tmp_path, db):
    """The shared text-field scheme yields to a field's own (the teams an escalation names)."""
    Team.objects.create(slug="zz-schema-team", name="Schema team")
    target = tmp_path / "schema.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(target))
    schemas = json.loads(target.read_text())["components"]["schemas"]
    team = schemas["EscalationRaiseInputRequest"]["properties"]["team"]
    enum_name = team["allOf"][0]["$ref"].rsplit("/", 1)[1]
    assert schemas[enum_name]["enum"] == sorted(Team.objects.values_list("slug", flat=True))
    assert "zz-schema-team" in schemas[enum_name]["enum"]


def test_a_qa_answer_names_the_policy_sections_the_server_accepts(tmp_path, db):
    """The blind answer's section is any stored section code, or blank (review_answer)."""
    from enforcement.models import PolicySection

    target = tmp_path / "schema.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(target))
    schemas = json.loads(target.read_text())["components"]["schemas"]
    section = schemas["ReviewAnswerInputRequest"]["properties"]["policy_section"]
    # The enum post-processing splits the blank choice into an enum of its own.
    refs = [part["$ref"] for part in section.get("oneOf", section.get("allOf", []))]
    accepted = {value for ref in refs for value in schemas[ref.rsplit("/", 1)[1]]["enum"]}
    codes = set(PolicySection.objects.values_list("code", flat=True))
    assert codes and accepted == {"", *codes}
