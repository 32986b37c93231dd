"""Who sees which queue and case, and whose work counts in which figure: the one home of the rule.

A case is visible to someone when either

- it is unrestricted and sits in an unrestricted queue they work (:func:`can_work_queue`), or
- one of their specialist teams' groups holds django-guardian's ``view_case`` on it
  (:class:`cases.models.CaseGroupObjectPermission`, a direct foreign key).

The team's permission is the source of truth for team access: the team gets it on every case
restricted to the team (intake, escalation) and on an unrestricted case while the case is
escalated (open or acknowledged) to the team; :func:`case_team_grants_set` writes it. The
predicate :func:`can_view_case` and the queryset :func:`visible_cases` sit side by side and a
test proves they agree for every named actor. Every list, search, export, admin page and
figure calls them (figures through :func:`figure_teams`).

Other apps may close a visible case to someone for a while (QA's blind review): they register
a guard here (:func:`register_case_access_guard`) instead of cases importing them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission
from django.db.models import BooleanField, Exists, Expression, F, OuterRef, Q, QuerySet

from cases.models import Case, CaseGroupObjectPermission, Queue
from tsops.permissions import has_capability, role_of, team_group_ids, teams_of

VIEW_CASE = "view_case"


def _team_access_name(user) -> str:
    """The annotation :func:`case_access_annotations` adds: whether one of this user's teams
    may see the case (named per user, so a case loaded for one never answers for another)."""
    return f"team_access_of_{user.pk}"


# --- Queues ------------------------------------------------------------------------------------


def can_work_queue(user, queue: Queue) -> bool:
    """Restricted queues belong to their team; others to the roles they list."""
    if not user.is_authenticated or not queue.active:
        return False
    needed = "decide_appeals" if queue.kind == Queue.Kind.APPEALS else "work_standard_queues"
    if queue.team:
        return queue.team in teams_of(user) and has_capability(user, "work_team_cases")
    role = role_of(user)
    return role is not None and role in queue.allowed_roles and has_capability(user, needed)


def _works_open_queue(user, queue: Queue) -> bool:
    return not queue.team and can_work_queue(user, queue)


# --- Cases -------------------------------------------------------------------------------------


def _team_groups(user) -> list[int]:
    """The groups whose ``view_case`` permissions are the user's: their specialist teams'."""
    if not user.is_authenticated or not has_capability(user, "work_team_cases"):
        return []
    return team_group_ids(user)


def _team_grants(groups: list[int]) -> QuerySet[CaseGroupObjectPermission]:
    return CaseGroupObjectPermission.objects.filter(
        group_id__in=groups, permission__codename=VIEW_CASE
    )


def has_team_access(user, case: Case) -> bool:
    """Whether one of the user's teams holds ``view_case`` on the case (one indexed query,
    none when the case was loaded with :func:`case_access_annotations`)."""
    groups = _team_groups(user)
    if not groups:
        return False
    annotated = case.__dict__.get(_team_access_name(user))
    if annotated is not None:
        return annotated
    return _team_grants(groups).filter(content_object_id=case.pk).exists()


def can_view_case(user, case: Case) -> bool:
    """The predicate of the rule above (agrees with :func:`visible_cases`)."""
    if not user.is_authenticated:
        return False
    if not case.restricted and _works_open_queue(user, case.queue):
        return True
    return has_team_access(user, case)


def team_cases(user) -> QuerySet[Case]:
    """The cases one of the user's teams holds ``view_case`` on (the only way anyone sees a
    restricted case): the queryset of :func:`has_team_access`."""
    groups = _team_groups(user)
    if not groups:
        return Case.objects.none()
    return Case.objects.filter(pk__in=_team_grants(groups).values("content_object_id"))


def _open_queue_ids(user) -> list[int]:
    """The unrestricted case queues the user works, read once per user object (which lives
    for one request, as the groups :mod:`tsops.permissions` keeps on it do): a queue's roles
    or a member's role changed elsewhere apply from their next request."""
    cached = getattr(user, "_tsops_open_queue_ids", None)
    if cached is None:
        queues = Queue.objects.filter(active=True, kind=Queue.Kind.CASES, team="")
        cached = [q.pk for q in queues if _works_open_queue(user, q)]
        user._tsops_open_queue_ids = cached
    return cached


def visible_cases(user) -> QuerySet[Case]:
    """The queryset of the rule above (agrees with :func:`can_view_case`)."""
    if not user.is_authenticated:
        return Case.objects.none()
    visible = Q(restricted=False, queue_id__in=_open_queue_ids(user))
    if groups := _team_groups(user):
        visible |= Q(pk__in=_team_grants(groups).values("content_object_id"))
    return Case.objects.filter(visible)


# --- Figures -----------------------------------------------------------------------------------


def figure_teams(user) -> list[str]:
    """The case ``team`` values whose work counts in the user's figures (KPIs, rollups,
    transparency report): unrestricted work ("") and the restricted work of the teams the user
    is a member of. Nobody counts another team's restricted work, superusers included."""
    teams = teams_of(user) if has_capability(user, "work_team_cases") else []
    return ["", *teams]


def figure_cases_q(user, *, prefix: str = "") -> Q:
    """The rows (reached through ``prefix``, e.g. ``"case__"``) whose case counts in the
    user's figures: :func:`figure_teams` over the raw case tables."""
    teams = [team for team in figure_teams(user) if team]
    return Q(**{f"{prefix}restricted": False}) | Q(
        **{f"{prefix}restricted": True, f"{prefix}team__in": teams}
    )


# --- Writing the team permission ---------------------------------------------------------------


def _view_case_permission() -> Permission:
    return Permission.objects.get(content_type__app_label="cases", codename=VIEW_CASE)


def case_team_grants_add(grants: Iterable[tuple[int, str]]) -> None:
    """Give each (case id, team slug) pair's team ``view_case`` on the case (set-based; for
    intake's new restricted cases). Teams without a group get nothing."""
    grants = list(grants)
    if not grants:
        return
    groups = dict(Group.objects.filter(name__in={t for _, t in grants}).values_list("name", "pk"))
    permission = _view_case_permission()
    CaseGroupObjectPermission.objects.bulk_create(
        [
            CaseGroupObjectPermission(
                group_id=groups[team], permission=permission, content_object_id=case_id
            )
            for case_id, team in grants
            if team in groups
        ],
        ignore_conflicts=True,
    )


def case_team_grants_set(case: Case, teams: Iterable[str]) -> None:
    """Make ``teams`` the only teams holding ``view_case`` on the case (inside the caller's
    transaction, with the case row locked)."""
    teams = set(teams)
    CaseGroupObjectPermission.objects.filter(content_object_id=case.pk).exclude(
        group__name__in=teams, permission__codename=VIEW_CASE
    ).delete()
    case_team_grants_add((case.pk, team) for team in sorted(teams))
    for name in [name for name in case.__dict__ if name.startswith("team_access_of_")]:
        del case.__dict__[name]


# --- Guards other apps register ----------------------------------------------------------------


class CaseCondition(Expression):
    """A condition on a case written once in SQL over the case's id (``{case}`` in ``sql``,
    with ``params`` for its placeholders): a Case queryset annotates it (the id column aliased
    as that query needs, subqueries included), and a hand-written statement reads the same
    text through :meth:`sql_for`, so the rule has one home either way."""

    conditional = True

    def __init__(self, sql: str, params: Iterable = (), case: Expression | None = None):
        super().__init__(output_field=BooleanField())
        self.sql = sql
        self.params = tuple(params)
        self.case = case if case is not None else F("pk")

    def get_source_expressions(self) -> list[Expression]:
        return [self.case]

    def set_source_expressions(self, exprs) -> None:
        (self.case,) = exprs

    def resolve_expression(self, *args, **kwargs) -> CaseCondition:
        resolved = self.copy()
        resolved.case = self.case.resolve_expression(*args, **kwargs)
        return resolved

    def as_sql(self, compiler, connection) -> tuple[str, list]:
        case_sql, case_params = compiler.compile(self.case)
        if case_params:
            raise ValueError("The case id column takes no parameters.")
        return self.sql_for(case_sql)

    def sql_for(self, case_column: str) -> tuple[str, list]:
        """The condition on the case whose id is ``case_column`` (an alias.column)."""
        return self.sql.format(case=case_column), list(self.params)


@dataclass(frozen=True)
class CaseAccessGuard:
    """Closes an otherwise visible case to someone: ``annotations(user)`` gives the Case
    queryset annotations the guard reads (each a :class:`CaseCondition`, so hand-written
    statements read them too), ``refusal(case)`` the reason it is closed or ""."""

    annotations: Callable[[object], dict[str, Expression]]
    refusal: Callable[[Case], str]


_guards: list[CaseAccessGuard] = []


def register_case_access_guard(
    *, annotations: Callable[[object], dict[str, Expression]], refusal: Callable[[Case], str]
) -> None:
    """Add a guard (from the registering app's ``AppConfig.ready``; once per guard)."""
    guard = CaseAccessGuard(annotations=annotations, refusal=refusal)
    if guard not in _guards:
        _guards.append(guard)


def team_access_annotations(user) -> dict[str, Expression]:
    """The annotation that lets one query load a case with what :func:`can_view_case` needs
    for ``user`` (nothing for someone without a team)."""
    if groups := _team_groups(user):
        return {
            _team_access_name(user): Exists(
                _team_grants(groups).filter(content_object_id=OuterRef("pk"))
            )
        }
    return {}


def case_access_annotations(user) -> dict[str, Expression]:
    """Annotations that let one query load a case with everything :func:`can_view_case` and
    :func:`case_access_refusal` need for ``user``."""
    annotations = team_access_annotations(user)
    if user.is_authenticated:
        for guard in _guards:
            annotations.update(guard.annotations(user))
    return annotations


def case_access_refusal(case: Case) -> str:
    """Why a visible case is closed to its viewer for now (a registered guard), or ""."""
    return next((reason for guard in _guards if (reason := guard.refusal(case))), "")
