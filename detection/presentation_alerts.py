"""The words alerts' codes read as (kinds and statuses), for the ``labels`` template library."""

from __future__ import annotations

from detection.models import Alert
from tsops.presentation import choices_vocabulary, vocabulary_register


def register() -> None:
    vocabulary_register("alert_kind", choices_vocabulary(Alert.Kind))
    vocabulary_register("alert_status", choices_vocabulary(Alert.Status))
