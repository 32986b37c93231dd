"""Who sees and works alerts: the predicates the alert selectors and services enforce.

An alert about unrestricted work (``team`` blank) is for those who work every non-restricted
queue (analysts and seniors): it speaks of the whole intake. An alert carrying a ``team``
concerns that specialist team's restricted work and is the team's alone; nobody outside the
team sees it or learns that it exists, seniors and superusers included.
"""

from __future__ import annotations

from detection.models import Alert
from tsops.permissions import has_capability, teams_of

# The capability that shows the alerts about unrestricted work.
WATCH_CAPABILITY = "work_all_queues"


def alert_teams_of(user) -> list[str]:
    """The teams whose alerts ``user`` sees (their own specialist teams)."""
    if not user.is_authenticated or not has_capability(user, "work_team_cases"):
        return []
    return teams_of(user)


def can_watch_alerts(user) -> bool:
    """Whether ``user`` sees the alerts about unrestricted work."""
    return user.is_authenticated and has_capability(user, WATCH_CAPABILITY)


def can_view_alerts(user) -> bool:
    """Whether the alerts page (and the alerts API) is for ``user`` at all."""
    return can_watch_alerts(user) or bool(alert_teams_of(user))


def can_view_alert(user, alert: Alert) -> bool:
    """Whether ``user`` may see this alert (agrees with ``alert_list``)."""
    if alert.team:
        return alert.team in alert_teams_of(user)
    return can_watch_alerts(user)


def can_work_alert(user, alert: Alert) -> bool:
    """Whether ``user`` may acknowledge or resolve this alert: whoever it is meant for."""
    return can_view_alert(user, alert)
