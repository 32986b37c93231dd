"""What each role finds in the console's navigation: one table, read by the base layout."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from tsops.permissions import has_capability


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    capability: str
    key: str
    # Instead of a capability: the dotted path of the page's own predicate (user -> bool),
    # where who may open the page is more than one capability.
    predicate: str = ""

    def shown_to(self, user) -> bool:
        if self.predicate:
            return import_string(self.predicate)(user)
        return has_capability(user, self.capability)


# Later capabilities add their entries here; an entry shows when its URL exists and the
# user holds its capability.
NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem("Home", "home", "use_console", "home"),
    NavItem("Queues", "cases:queue-list", "work_standard_queues", "queues"),
    NavItem("Team inbox", "escalations:team-inbox-list", "work_team_cases", "inbox"),
    NavItem("Approvals", "enforcement:approval-list", "approve_actions", "approvals"),
    NavItem("Appeals", "appeals:appeal-list", "decide_appeals", "appeals"),
    NavItem("QA", "qa:home", "work_standard_queues", "qa"),
    NavItem("Metrics", "metrics:dashboard", "view_team_metrics", "metrics"),
    NavItem(
        "My figures",
        "metrics:my-figures",
        "",
        "my-figures",
        predicate="metrics.selectors.can_view_own_figures",
    ),
    NavItem(
        "Exposure",
        "workspace:exposure",
        "",
        "exposure",
        predicate="workspace.permissions.can_view_exposure",
    ),
    NavItem("Transparency", "metrics:transparency", "export_data", "transparency"),
    NavItem("Enforcement lookup", "enforcement:lookup", "lookup_enforcement", "lookup"),
    NavItem("Access log", "access-log", "view_access_log", "access-log"),
    NavItem("Admin", "admin:index", "configure_operations", "admin"),
)


def nav_for(user) -> list[dict]:
    items = []
    for item in NAV_ITEMS:
        if not item.shown_to(user):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        items.append({"label": item.label, "url": url, "key": item.key})
    return items
