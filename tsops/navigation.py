"""What each role finds in the console's navigation: one table, read by the base layout."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from tsops.permissions import has_capability

# The menus the header groups its less frequent entries under, in the order they show after
# the primary entries. An entry names its group; an entry without one is a primary link.
INSIGHTS = "Insights"
OVERSIGHT = "Oversight"
INVESTIGATE = "Investigate"
DETECTION = "Detection"
NAV_GROUPS: dict[str, str] = {
    INSIGHTS: "insights",
    OVERSIGHT: "oversight",
    INVESTIGATE: "investigate",
    DETECTION: "detection",
}


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    capability: str
    key: str
    # Instead of a capability: the dotted path of the page's own predicate (user -> bool),
    # where who may open the page is more than one capability.
    predicate: str = ""
    # The header menu (a NAV_GROUPS key) the entry is listed under; "" for a primary link.
    group: str = ""
    # The dotted path of a count shown beside the entry (``count(actor=user) -> int``), for
    # work waiting on the user: open alerts. Its group shows the sum.
    badge: str = ""

    def badge_for(self, user) -> int:
        return import_string(self.badge)(actor=user) if self.badge else 0

    def shown_to(self, user) -> bool:
        if self.predicate:
            return import_string(self.predicate)(user)
        return has_capability(user, self.capability)


# Later capabilities add their entries here; an entry shows when its URL exists and the
# user holds its capability. So that the header stays one row at 1280 px, only the pages
# worked every day are primary links; the rest name a group.
NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem("Home", "home", "use_console", "home"),
    NavItem("Queues", "cases:queue-list", "work_standard_queues", "queues"),
    NavItem("Team inbox", "escalations:team-inbox-list", "work_team_cases", "inbox"),
    NavItem("Approvals", "enforcement:approval-list", "approve_actions", "approvals"),
    NavItem("Appeals", "appeals:appeal-list", "decide_appeals", "appeals"),
    NavItem("QA", "qa:home", "work_standard_queues", "qa"),
    NavItem(
        "Accounts",
        "investigations:account-search",
        "investigate_accounts",
        "accounts",
        group=INVESTIGATE,
    ),
    NavItem(
        "Clusters",
        "investigations:cluster-list",
        "investigate_accounts",
        "clusters",
        group=INVESTIGATE,
    ),
    NavItem("Waves", "investigations:wave-list", "run_waves", "waves", group=INVESTIGATE),
    NavItem(
        "Investigations",
        "investigations:investigation-list",
        "investigate_accounts",
        "investigations",
        group=INVESTIGATE,
    ),
    NavItem("Rules", "detection:rule-list", "manage_rules", "rules", group=DETECTION),
    NavItem(
        "Reporters",
        "detection:reporter-list",
        "configure_operations",
        "reporters",
        group=DETECTION,
    ),
    NavItem(
        "Detectors", "detection:detector-list", "view_team_metrics", "detectors", group=DETECTION
    ),
    NavItem(
        "Alerts",
        "detection:alert-list",
        "",
        "alerts",
        predicate="detection.permissions_alerts.can_view_alerts",
        group=DETECTION,
        badge="detection.selectors.alerts.alert_open_count",
    ),
    NavItem("Labelled data", "detection:labels", "export_data", "labels", group=DETECTION),
    NavItem("Metrics", "metrics:dashboard", "view_team_metrics", "metrics", group=INSIGHTS),
    NavItem(
        "My figures",
        "metrics:my-figures",
        "",
        "my-figures",
        predicate="metrics.selectors.can_view_own_figures",
        group=INSIGHTS,
    ),
    NavItem("Transparency", "metrics:transparency", "export_data", "transparency", group=INSIGHTS),
    NavItem(
        "Exposure",
        "workspace:exposure",
        "",
        "exposure",
        predicate="workspace.permissions.can_view_exposure",
        group=INSIGHTS,
    ),
    # Under Investigate beside the accounts (support agents, who have only this entry of the
    # group, see it as a link): the widest header keeps one row at 1280 px.
    NavItem("Lookup", "enforcement:lookup", "lookup_enforcement", "lookup", group=INVESTIGATE),
    NavItem("Access log", "access-log", "view_access_log", "access-log", group=OVERSIGHT),
    NavItem("Admin", "admin:index", "configure_operations", "admin", group=OVERSIGHT),
)


def _links_for(user) -> list[tuple[NavItem, str]]:
    links = []
    for item in NAV_ITEMS:
        if not item.shown_to(user):
            continue
        try:
            links.append((item, reverse(item.url_name)))
        except NoReverseMatch:
            continue
    return links


def nav_for(user, path: str = "") -> list[dict]:
    """The header's entries for ``user``, in table order: a link is ``{"label", "url",
    "key", "active", "badge"}``; a group is ``{"label", "key", "group": True, "items":
    [links], "active", "badge"}``, placed where its first entry is. A group the user has one
    entry of shows as that entry's link (no menu of one). ``badge`` counts work waiting."""
    links = _links_for(user)
    counts: dict[str, int] = {}
    for item, _url in links:
        counts[item.group] = counts.get(item.group, 0) + 1
    entries: list[dict] = []
    groups: dict[str, dict] = {}
    for item, url in links:
        link = {
            "label": item.label,
            "url": url,
            "key": item.key,
            "active": path == url,
            "badge": item.badge_for(user),
        }
        if not item.group or counts[item.group] < 2:
            entries.append(link)
            continue
        if item.group not in groups:
            groups[item.group] = {
                "label": item.group,
                "key": NAV_GROUPS.get(item.group, item.group.lower()),
                "group": True,
                "items": [],
                "active": False,
                "badge": 0,
            }
            entries.append(groups[item.group])
        groups[item.group]["items"].append(link)
        groups[item.group]["active"] |= link["active"]
        groups[item.group]["badge"] += link["badge"]
    return entries
