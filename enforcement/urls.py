from django.urls import path

from enforcement import views

app_name = "enforcement"

urlpatterns = [
    path("approvals/", views.approval_list, name="approval-list"),
    path("lookup/", views.lookup, name="lookup"),
    path("cases/<int:case_id>/decide/", views.case_decide, name="case-decide"),
    path(
        "cases/<int:case_id>/decide/draft/",
        views.case_draft_statement,
        name="case-draft-statement",
    ),
    path("actions/<int:action_id>/approve/", views.action_approve, name="action-approve"),
    path("actions/<int:action_id>/reject/", views.action_reject, name="action-reject"),
    path("actions/<int:action_id>/reverse/", views.action_reverse, name="action-reverse"),
    path("queues/<slug:slug>/decide/", views.queue_decide, name="queue-decide"),
]
