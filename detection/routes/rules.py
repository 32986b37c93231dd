"""Routes of the rules views (pages and API), collected by detection.urls and .api_urls."""

from django.urls import path

from detection.api import rules as api_views
from detection.views import rules as views

pages: list = [
    path("rules/", views.rule_list_page, name="rule-list"),
    path("rules/new/", views.rule_create_page, name="rule-create"),
    path("rules/<int:rule_id>/", views.rule_detail_page, name="rule-detail"),
    path("rules/<int:rule_id>/versions/", views.rule_version_page, name="rule-version"),
    path("rules/<int:rule_id>/state/", views.rule_state, name="rule-state"),
    path("rules/<int:rule_id>/backtests/", views.rule_backtest, name="rule-backtest"),
    path("rules/<int:rule_id>/snoozes/", views.rule_snooze_page, name="rule-snooze"),
    path("backtests/<int:backtest_id>/", views.backtest_page, name="backtest-detail"),
    path(
        "rule-actions/<int:rule_action_id>/intervene/",
        views.rule_action_intervene_page,
        name="rule-action-intervene",
    ),
]
api: list = [
    path("rules", api_views.RuleListApi.as_view(), name="rule-list"),
    path("rules/<int:rule_id>", api_views.RuleDetailApi.as_view(), name="rule-detail"),
    path("rules/<int:rule_id>/versions", api_views.RuleVersionApi.as_view(), name="rule-versions"),
    path("rules/<int:rule_id>/shadow", api_views.RuleShadowApi.as_view(), name="rule-shadow"),
    path("rules/<int:rule_id>/activate", api_views.RuleActivateApi.as_view(), name="rule-activate"),
    path("rules/<int:rule_id>/retire", api_views.RuleRetireApi.as_view(), name="rule-retire"),
    path("rules/<int:rule_id>/resume", api_views.RuleResumeApi.as_view(), name="rule-resume"),
    path("rules/<int:rule_id>/snoozes", api_views.RuleSnoozeApi.as_view(), name="rule-snoozes"),
    path(
        "rules/<int:rule_id>/backtests", api_views.RuleBacktestApi.as_view(), name="rule-backtests"
    ),
    path(
        "backtests/<int:backtest_id>", api_views.BacktestDetailApi.as_view(), name="backtest-detail"
    ),
    path(
        "rule-actions/<int:rule_action_id>/intervene",
        api_views.RuleActionInterveneApi.as_view(),
        name="rule-action-intervene",
    ),
]
