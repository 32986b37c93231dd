from django.urls import path

from cases import api

urlpatterns = [
    path("reports", api.ReportCreateApi.as_view(), name="report-create"),
    path("reports/bulk", api.ReportBulkApi.as_view(), name="report-bulk"),
    path("queues", api.QueueListApi.as_view(), name="queue-list"),
    path("queues/<slug:slug>/claim", api.QueueClaimApi.as_view(), name="queue-claim"),
    path("cases", api.CaseListApi.as_view(), name="case-list"),
    path("cases/<int:case_id>", api.CaseDetailApi.as_view(), name="case-detail"),
    path("cases/<int:case_id>/release", api.CaseReleaseApi.as_view(), name="case-release"),
    path("cases/<int:case_id>/notes", api.CaseNoteCreateApi.as_view(), name="case-notes"),
    path("search", api.SearchApi.as_view(), name="search"),
]
