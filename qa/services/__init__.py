"""Every write of the qa app, one module per concern:

- :mod:`qa.services.sampling`: the period a draw covers, a plan's population, the sample
  size, the seeded draw (``sample_draw``, ``samples_draw_due`` for beat) and ``plan_save``;
- :mod:`qa.services.reviews`: claiming with leases, the blind answer, rubric scoring,
  feedback, disputes, adjudication and reversal, the timeline event kinds and ``QAConflict``;
- :mod:`qa.services.calibration`: calibration session writes and the cleaning of their input
  (``from qa.services import calibration``; its reads are in :mod:`qa.calibration_selectors`);
- :mod:`qa.services._input`: input cleaning shared by the modules above.

The sampling and review services are re-exported here, so ``from qa import services`` then
``services.sample_draw(...)`` or ``services.review_answer(...)`` works as before the split.
"""

from __future__ import annotations

from qa.services.reviews import (
    CLAIM_SQL,
    LEASE,
    MAX_TEXT,
    QAConflict,
    live_actions,
    review_acknowledge,
    review_adjudicate,
    review_answer,
    review_claim,
    review_claim_next,
    review_dispute,
    review_release,
    review_reverse_action,
    review_score,
    rubric_criteria,
    rubric_score,
)
from qa.services.sampling import (
    PLAN_FIELDS,
    Candidate,
    Draw,
    draw_select,
    period_bounds,
    plan_population,
    plan_save,
    plan_target_size,
    sample_draw,
    samples_draw_due,
)

__all__ = [
    "CLAIM_SQL",
    "LEASE",
    "MAX_TEXT",
    "PLAN_FIELDS",
    "Candidate",
    "Draw",
    "QAConflict",
    "draw_select",
    "live_actions",
    "period_bounds",
    "plan_population",
    "plan_save",
    "plan_target_size",
    "review_acknowledge",
    "review_adjudicate",
    "review_answer",
    "review_claim",
    "review_claim_next",
    "review_dispute",
    "review_release",
    "review_reverse_action",
    "review_score",
    "rubric_criteria",
    "rubric_score",
    "sample_draw",
    "samples_draw_due",
]
