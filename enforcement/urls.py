from django.urls import path

from enforcement import response_views, views

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
    # Response templates (seniors keep them; deciders read them and insert snippets).
    path("templates/", response_views.response_template_list, name="response-template-list"),
    path(
        "templates/new/",
        response_views.response_template_create,
        name="response-template-create",
    ),
    path(
        "templates/preview/",
        response_views.response_template_preview,
        name="response-template-preview",
    ),
    path(
        "templates/<int:template_id>/edit/",
        response_views.response_template_edit,
        name="response-template-edit",
    ),
    path(
        "templates/<int:template_id>/retire/",
        response_views.response_template_retire,
        name="response-template-retire",
    ),
    path("cases/<int:case_id>/snippets/", response_views.case_snippets, name="case-snippets"),
]
