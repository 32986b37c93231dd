"""How QA reads on a page: its error types, statuses and feedback in words."""

from __future__ import annotations

from qa.models import ErrorType, QAReview, SamplingPlan
from tsops.presentation import choices_vocabulary, vocabulary_register


def register_vocabularies() -> None:
    """The codes this app stores, in words for the ``labels`` template library."""
    vocabulary_register("qa_error", choices_vocabulary(ErrorType))
    vocabulary_register("qa_status", choices_vocabulary(QAReview.Status))
    vocabulary_register("qa_feedback", choices_vocabulary(QAReview.Feedback))
    vocabulary_register("qa_inclusion", choices_vocabulary(QAReview.Inclusion))
    vocabulary_register("qa_stratify", choices_vocabulary(SamplingPlan.Stratify))
