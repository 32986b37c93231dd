"""Routes of the accounts views (pages and API), collected by investigations.urls and .api_urls."""

from django.urls import path

from investigations.api.accounts import AccountDetailApi
from investigations.views import accounts as views

pages: list = [
    path("accounts/", views.account_search, name="account-search"),
    path("accounts/<str:external_id>/", views.account_detail, name="account"),
    path(
        "accounts/<str:external_id>/identifiers/<int:identifier_id>/reveal/",
        views.account_identifier_reveal_view,
        name="account-identifier-reveal",
    ),
]
api: list = [
    path("accounts/<str:external_id>", AccountDetailApi.as_view(), name="account-detail"),
]
