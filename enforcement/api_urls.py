from django.urls import path

from enforcement import api

urlpatterns = [
    path("policies", api.PolicyListApi.as_view(), name="policy-list"),
    path("cases/<int:case_id>/decision", api.CaseDecisionApi.as_view(), name="case-decision"),
    path("decisions/bulk", api.DecisionBulkApi.as_view(), name="decision-bulk"),
    path("actions/<int:action_id>/approve", api.ActionApproveApi.as_view(), name="action-approve"),
    path("actions/<int:action_id>/reject", api.ActionRejectApi.as_view(), name="action-reject"),
    path("actions/<int:action_id>/reverse", api.ActionReverseApi.as_view(), name="action-reverse"),
    path(
        "subjects/<str:kind>/<path:external_id>/enforcement",
        api.SubjectEnforcementApi.as_view(),
        name="subject-enforcement",
    ),
    path(
        "actions/<int:action_id>/statement-of-reasons",
        api.ActionStatementOfReasonsApi.as_view(),
        name="action-statement-of-reasons",
    ),
    path("statements-of-reasons", api.StatementExportApi.as_view(), name="statement-export"),
]
