"""Routes of the clusters views (pages and API), collected by investigations.urls and .api_urls."""

from django.urls import path

from investigations.api import clusters as api_views
from investigations.views import clusters as views

pages: list = [
    path("clusters/", views.cluster_list_page, name="cluster-list"),
    path("clusters/new/", views.cluster_create_page, name="cluster-create"),
    path("clusters/<int:cluster_id>/", views.cluster_detail_page, name="cluster-detail"),
    path("clusters/<int:cluster_id>/network.json", views.cluster_network, name="cluster-network"),
    path("clusters/<int:cluster_id>/status/", views.cluster_status, name="cluster-status"),
]
api: list = [
    path("clusters", api_views.ClusterListApi.as_view(), name="cluster-list"),
    path("clusters/<int:cluster_id>", api_views.ClusterDetailApi.as_view(), name="cluster-detail"),
]
