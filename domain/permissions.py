"""The permission matrix: which role may do what, as data, and how a user's
effective role in a project is worked out.

Every endpoint, websocket subscription and search result asks this module (through
`serve_app.access`); `docs/permissions.md` is rendered from it (`render_markdown`)
and a test keeps the two equal.

Two kinds of roles:

- **Organisation roles** (`owner`, `admin`, `member`, `guest`) govern the
  organisation itself: its members, teams, audit log, creating projects.
- **Project roles** (`admin`, `member`, `viewer`) govern one project's work.
  A user's effective project role is the highest of:
  an organisation owner's or admin's implicit `admin` on every project; `admin`
  for the project's creator; a direct grant; a grant to any team the user is in;
  and, for organisation members (not guests) on a project whose visibility is
  `org`, an implicit `member`. Without any of these the project is invisible
  (404, never 403: nobody learns it exists).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID


class OrgRole(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    GUEST = "guest"


class ProjectRole(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class Visibility(StrEnum):
    #: Every organisation member (not guests) sees the project and works in it.
    ORG = "org"
    #: Only those granted a role (directly or through a team), and org owners/admins.
    PRIVATE = "private"


class Action(StrEnum):
    """Things done inside one project; allowed by the caller's project role."""

    READ = "read tasks, comments, attachments, board"
    WRITE_TASKS = "create, edit, move and delete tasks; upload attachments"
    COMMENT = "comment and react"
    PLAN_SPRINTS = "create, start, complete sprints and change their scope"
    MODERATE = "delete anyone's comments and attachments"
    MANAGE_WORKFLOW = "change the workflow and the label set"
    MANAGE_SETTINGS = "change name, description, settings, teams, visibility"
    MANAGE_MEMBERS = "grant, change and remove project roles"
    DELETE_PROJECT = "delete the project"


class OrgAction(StrEnum):
    """Things done in the organisation; allowed by the caller's organisation role."""

    SEE_PROJECTS = "see the organisation's projects (not private ones)"
    CREATE_PROJECT = "create projects"
    SEE_DIRECTORY = "list members and teams"
    MANAGE_TEAMS = "create, rename, delete teams and change their members"
    MANAGE_MEMBERS = "invite people, change members' roles, remove members"
    MANAGE_OWNERS = "make someone an owner, or change or remove an owner"
    SEE_AUDIT_LOG = "read the audit log"


_P = ProjectRole
_O = OrgRole

#: Project action → the project roles that may take it.
PROJECT_MATRIX: Mapping[Action, frozenset[ProjectRole]] = {
    Action.READ: frozenset({_P.ADMIN, _P.MEMBER, _P.VIEWER}),
    Action.WRITE_TASKS: frozenset({_P.ADMIN, _P.MEMBER}),
    Action.COMMENT: frozenset({_P.ADMIN, _P.MEMBER}),
    Action.PLAN_SPRINTS: frozenset({_P.ADMIN, _P.MEMBER}),
    Action.MODERATE: frozenset({_P.ADMIN}),
    Action.MANAGE_WORKFLOW: frozenset({_P.ADMIN}),
    Action.MANAGE_SETTINGS: frozenset({_P.ADMIN}),
    Action.MANAGE_MEMBERS: frozenset({_P.ADMIN}),
    Action.DELETE_PROJECT: frozenset({_P.ADMIN}),
}

#: Organisation action → the organisation roles that may take it.
ORG_MATRIX: Mapping[OrgAction, frozenset[OrgRole]] = {
    OrgAction.SEE_PROJECTS: frozenset({_O.OWNER, _O.ADMIN, _O.MEMBER}),
    OrgAction.CREATE_PROJECT: frozenset({_O.OWNER, _O.ADMIN, _O.MEMBER}),
    OrgAction.SEE_DIRECTORY: frozenset({_O.OWNER, _O.ADMIN, _O.MEMBER}),
    OrgAction.MANAGE_TEAMS: frozenset({_O.OWNER, _O.ADMIN}),
    OrgAction.MANAGE_MEMBERS: frozenset({_O.OWNER, _O.ADMIN}),
    OrgAction.MANAGE_OWNERS: frozenset({_O.OWNER}),
    OrgAction.SEE_AUDIT_LOG: frozenset({_O.OWNER, _O.ADMIN}),
}

#: Organisation roles that hold `admin` on every project, private ones included.
ORG_PROJECT_ADMINS = frozenset({_O.OWNER, _O.ADMIN})

_RANK = {_P.VIEWER: 1, _P.MEMBER: 2, _P.ADMIN: 3}


def allows(role: ProjectRole | None, action: Action) -> bool:
    """May a holder of project role `role` (None: no access at all) take `action`?"""
    return role is not None and role in PROJECT_MATRIX[action]


def org_allows(role: OrgRole | str | None, action: OrgAction) -> bool:
    """May a holder of organisation role `role` (None: not a member) take `action`?"""
    return role is not None and role in ORG_MATRIX[action]


def highest(roles: Iterable[ProjectRole | None]) -> ProjectRole | None:
    """The most powerful of `roles` (None when there is none)."""
    best: ProjectRole | None = None
    for role in roles:
        if role is not None and (best is None or _RANK[role] > _RANK[best]):
            best = role
    return best


@dataclass(frozen=True, slots=True)
class ProjectFacts:
    """What about a project decides who may see it."""

    id: UUID
    owner_id: UUID
    visibility: Visibility


@dataclass(frozen=True, slots=True)
class Grants:
    """A user's standing in one organisation: their organisation role and the
    project roles granted to them directly and through their teams."""

    user_id: UUID
    org_role: OrgRole | None
    direct: Mapping[UUID, ProjectRole]
    via_teams: Mapping[UUID, ProjectRole]
    team_ids: tuple[UUID, ...] = ()


def effective_role(grants: Grants, project: ProjectFacts) -> ProjectRole | None:
    """The user's role in `project` (see the module docstring), None for no access."""
    if grants.org_role is None:
        return None
    if grants.org_role in ORG_PROJECT_ADMINS or project.owner_id == grants.user_id:
        return ProjectRole.ADMIN
    implicit = (
        ProjectRole.MEMBER
        if grants.org_role == OrgRole.MEMBER and project.visibility == Visibility.ORG
        else None
    )
    return highest(
        (implicit, grants.direct.get(project.id), grants.via_teams.get(project.id)),
    )


@dataclass(frozen=True, slots=True)
class OrgProjects:
    """An organisation's live projects, partitioned once (per catalog version) so
    that working out what one caller may read costs time in the private projects,
    not in all of them."""

    facts: tuple[ProjectFacts, ...]
    ids: tuple[UUID, ...]
    #: `ids` as text, in the same order: what a search sends its index, spelled
    #: once per catalog version rather than once per search.
    texts: tuple[str, ...]
    #: A name for `texts` (a digest), by which a search shard that was sent them
    #: once is told them again (`search.messages.SearchRequest.scope_key`).
    texts_key: str
    #: The projects only those granted a role see.
    private: tuple[ProjectFacts, ...]
    by_id: Mapping[UUID, ProjectFacts]

    @classmethod
    def of(cls, facts: Iterable[ProjectFacts]) -> OrgProjects:
        listed = tuple(facts)
        texts = tuple(str(p.id) for p in listed)
        return cls(
            listed,
            tuple(p.id for p in listed),
            texts,
            hashlib.blake2b("\n".join(texts).encode(), digest_size=16).hexdigest(),
            tuple(p for p in listed if p.visibility is not Visibility.ORG),
            {p.id: p for p in listed},
        )


@dataclass(frozen=True, slots=True)
class Readable:
    """The projects a caller may read and the others, in the projects' order; the
    readable ones also as text (`OrgProjects.texts`, shared when all are readable)."""

    ids: list[UUID]
    texts: tuple[str, ...]
    hidden: list[UUID]
    #: `OrgProjects.texts_key` when every project is readable, else None.
    texts_key: str | None = None


def readable_split(grants: Grants, projects: OrgProjects) -> Readable:
    """What asking `effective_role` of every project gives. An organisation owner,
    admin or member reads every `org`-visible project (an implicit `admin` or
    `member` role at least), so only the private ones are looked at then."""
    if grants.org_role in ORG_PROJECT_ADMINS or grants.org_role == OrgRole.MEMBER:
        looked_at = projects.private
    else:
        looked_at = projects.facts
    hidden = {p.id for p in looked_at if not allows(effective_role(grants, p), Action.READ)}
    if not hidden:
        return Readable(list(projects.ids), projects.texts, [], projects.texts_key)
    pairs = [(i, t) for i, t in zip(projects.ids, projects.texts, strict=True) if i not in hidden]
    return Readable(
        [i for i, _t in pairs],
        tuple(t for _i, t in pairs),
        [i for i in projects.ids if i in hidden],
    )


def may_assign_org_role(actor: OrgRole | str, *, current: str | None, new: str | None) -> bool:
    """May an organisation member with role `actor` change someone's role from
    `current` to `new` (None: not a member / removed)? Admins manage members and
    guests; only owners touch the owner role."""
    if not org_allows(actor, OrgAction.MANAGE_MEMBERS):
        return False
    if OrgRole.OWNER in (current, new):
        return org_allows(actor, OrgAction.MANAGE_OWNERS)
    return True


# -- the rendered table -----------------------------------------------------------


def _mark(allowed: bool) -> str:
    return "✓" if allowed else "—"


def render_markdown() -> str:
    """`docs/permissions.md`, generated from the matrices above."""
    lines = [
        "# Permissions",
        "",
        "Generated from `domain/permissions.py` by `python -m domain.permissions`;",
        "`tests/unit/test_permissions.py` fails when this page and the code disagree.",
        "",
        "## Organisation roles",
        "",
        "| action | " + " | ".join(r.value for r in OrgRole) + " |",
        "|---|" + "---|" * len(OrgRole),
    ]
    for org_action, org_roles in ORG_MATRIX.items():
        cells = " | ".join(_mark(r in org_roles) for r in OrgRole)
        lines.append(f"| {org_action.value} | {cells} |")
    lines += [
        "",
        "## Project roles",
        "",
        "| action | " + " | ".join(r.value for r in ProjectRole) + " |",
        "|---|" + "---|" * len(ProjectRole),
    ]
    for action, roles in PROJECT_MATRIX.items():
        cells = " | ".join(_mark(r in roles) for r in ProjectRole)
        lines.append(f"| {action.value} | {cells} |")
    lines += [
        "",
        "## A user's role in a project",
        "",
        "The highest of:",
        "",
        "- `admin` for organisation owners and admins, on every project (private ones too);",
        "- `admin` for the project's creator;",
        "- the role granted directly (`/api/v1/projects/{id}/members`);",
        "- the role granted to any team the user belongs to (a project's `team_ids`, with",
        "  the role set by `PUT /api/v1/projects/{id}/teams/{team_id}`, `member` by default);",
        "- `member` for organisation members (not guests) when the project's visibility is",
        "  `org` (the default).",
        "",
        "Without any of these the project does not exist for the user: 404, never 403.",
        "Guests therefore see only projects they were added to, directly or through a",
        "team, and nobody but owners, admins and those granted a role sees a `private`",
        "project. A user who can see a project but lacks the role for a change gets 403.",
        "",
        "Credential scopes apply on top: a personal API token without `write` may only",
        "read, whatever the user's role.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - the docs generator
    print(render_markdown(), end="")
