"""The default QA rubric, installed by a data migration (seniors edit it in the admin)."""

from __future__ import annotations

DEFAULT_RUBRIC = "Default"

# (key, label, help, weight, critical)
DEFAULT_CRITERIA: tuple[tuple[str, str, str, int, bool], ...] = (
    (
        "correct_outcome",
        "Correct outcome",
        "Violation / no violation / insufficient evidence is what the policy requires.",
        4,
        True,
    ),
    (
        "correct_policy_section",
        "Correct policy section",
        "The section cited is the one the content breaches.",
        2,
        False,
    ),
    (
        "proportionate_action",
        "Proportionate action",
        "The action fits the severity and the account's history (strike ladder).",
        2,
        False,
    ),
    (
        "evidence_complete",
        "Evidence complete",
        "What the decision rests on is captured on the case.",
        1,
        False,
    ),
    (
        "rationale_clear",
        "Rationale clear",
        "Another analyst could follow the reasoning from the rationale alone.",
        1,
        False,
    ),
)


def install_default_rubric(apps) -> None:
    rubric_model = apps.get_model("qa", "Rubric")
    criterion_model = apps.get_model("qa", "RubricCriterion")
    rubric, created = rubric_model.objects.get_or_create(
        name=DEFAULT_RUBRIC, defaults={"pass_threshold": 80}
    )
    if not created and criterion_model.objects.filter(rubric=rubric).exists():
        return
    for position, (key, label, help_text, weight, critical) in enumerate(DEFAULT_CRITERIA):
        criterion_model.objects.get_or_create(
            rubric=rubric,
            key=key,
            defaults={
                "label": label,
                "help_text": help_text,
                "weight": weight,
                "critical": critical,
                "position": position * 10,
            },
        )
