"""Routes of the network views (pages and API), collected by investigations.urls and .api_urls."""

from django.urls import path

from investigations.api.network import AccountNetworkApi
from investigations.views import network as views

pages: list = [
    path(
        "accounts/<str:external_id>/network/",
        views.account_network,
        name="account-network",
    ),
    path(
        "accounts/<str:external_id>/network/data",
        views.account_network_data,
        name="account-network-data",
    ),
]
api: list = [
    path(
        "accounts/<str:external_id>/network",
        AccountNetworkApi.as_view(),
        name="account-network",
    ),
]
