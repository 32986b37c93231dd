from django.apps import AppConfig


class EscalationsConfig(AppConfig):
    name = "escalations"
    verbose_name = "Escalations"

    def ready(self) -> None:
        # The case page is the cases app's; it learns of this panel here.
        from escalations import panels

        panels.register()
        # Intake escalates cases that routing rules send to a team through this app.
        from cases.intake import register_rule_escalator
        from escalations.services import escalation_raise_by_rule

        register_rule_escalator(escalation_raise_by_rule)
        # Pages name an escalation's status through the labels template library.
        from escalations.models import Escalation
        from tsops.presentation import choices_vocabulary, vocabulary_register

        vocabulary_register("escalation_status", choices_vocabulary(Escalation.Status))
