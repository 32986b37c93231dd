from django.urls import path

from cases import views

app_name = "cases"

urlpatterns = [
    path("queues/", views.queue_list, name="queue-list"),
    path("queues/<slug:slug>/", views.queue_detail, name="queue-detail"),
    path("queues/<slug:slug>/next/", views.queue_claim_next, name="queue-claim-next"),
    path("queues/<slug:slug>/bulk/", views.queue_bulk, name="queue-bulk"),
    path("cases/<int:case_id>/", views.case_detail, name="case-detail"),
    path("cases/<int:case_id>/claim/", views.case_claim, name="case-claim"),
    path("cases/<int:case_id>/release/", views.case_release, name="case-release"),
    path("cases/<int:case_id>/edit/", views.case_edit, name="case-edit"),
    path("cases/<int:case_id>/notes/", views.case_note_add, name="case-note-add"),
    path("cases/<int:case_id>/evidence/", views.case_evidence_add, name="case-evidence-add"),
    path("cases/<int:case_id>/reopen/", views.case_reopen, name="case-reopen"),
    path(
        "cases/<int:case_id>/evidence/<int:evidence_id>/reveal/",
        views.case_evidence_reveal,
        name="case-evidence-reveal",
    ),
    path(
        "cases/<int:case_id>/evidence/<int:evidence_id>/thumbnail/",
        views.case_media_thumbnail,
        name="media-thumb",
    ),
    path(
        "cases/<int:case_id>/evidence/<int:evidence_id>/original/",
        views.case_media_original,
        name="media-original",
    ),
    path(
        "cases/<int:case_id>/identifiers/<int:identifier_id>/reveal/",
        views.case_identifier_reveal,
        name="case-identifier-reveal",
    ),
    path("cases/<int:case_id>/lease/", views.case_lease_renew, name="case-lease-renew"),
    path("search/", views.search, name="search"),
]
