"""Template context every console page needs: the user's role, teams and navigation."""

from tsops import roles
from tsops.navigation import nav_for
from tsops.permissions import can_use_console, role_of, teams_of


def console(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"console_nav": [], "console_role": None, "console_teams": []}
    role = role_of(user)
    return {
        "console_nav": nav_for(user, request.path) if can_use_console(user) else [],
        "console_role": role,
        "console_role_label": roles.ROLE_LABELS.get(role, "No role"),
        "console_teams": [roles.team_labels().get(t, t) for t in teams_of(user)],
    }
