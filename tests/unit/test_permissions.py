"""The permission matrix: its rendered page is current, and effective roles resolve
as documented."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.permissions import (
    ORG_MATRIX,
    PROJECT_MATRIX,
    Action,
    Grants,
    OrgAction,
    OrgProjects,
    OrgRole,
    ProjectFacts,
    ProjectRole,
    Visibility,
    allows,
    effective_role,
    highest,
    may_assign_org_role,
    org_allows,
    readable_split,
    render_markdown,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def test_the_permissions_page_is_rendered_from_the_matrix() -> None:
    assert DOC.read_text() == render_markdown(), (
        "docs/permissions.md is stale: run `python -m domain.permissions > docs/permissions.md`"
    )


def test_every_action_has_a_row() -> None:
    assert set(PROJECT_MATRIX) == set(Action)
    assert set(ORG_MATRIX) == set(OrgAction)


def test_viewers_only_read_and_admins_do_everything() -> None:
    for action in Action:
        assert allows(ProjectRole.VIEWER, action) == (action is Action.READ)
        assert allows(ProjectRole.ADMIN, action)
        assert not allows(None, action)


def test_guests_manage_nothing_in_the_organisation() -> None:
    assert not any(org_allows(OrgRole.GUEST, a) for a in OrgAction)
    assert all(org_allows(OrgRole.OWNER, a) for a in OrgAction)
    assert not org_allows(None, OrgAction.SEE_PROJECTS)


def _grants(
    role: OrgRole | None,
    user: UUID,
    direct: dict[UUID, ProjectRole] | None = None,
    teams: dict[UUID, ProjectRole] | None = None,
) -> Grants:
    return Grants(user, role, direct or {}, teams or {})


@pytest.mark.parametrize(
    ("org_role", "visibility", "expected"),
    [
        (OrgRole.OWNER, Visibility.PRIVATE, ProjectRole.ADMIN),
        (OrgRole.ADMIN, Visibility.PRIVATE, ProjectRole.ADMIN),
        (OrgRole.MEMBER, Visibility.ORG, ProjectRole.MEMBER),
        (OrgRole.MEMBER, Visibility.PRIVATE, None),
        (OrgRole.GUEST, Visibility.ORG, None),
        (OrgRole.GUEST, Visibility.PRIVATE, None),
        (None, Visibility.ORG, None),
    ],
)
def test_roles_without_grants(
    org_role: OrgRole | None, visibility: Visibility, expected: ProjectRole | None
) -> None:
    user, project = uuid4(), ProjectFacts(uuid4(), uuid4(), visibility)
    assert effective_role(_grants(org_role, user), project) == expected


def test_the_highest_grant_wins() -> None:
    user = uuid4()
    project = ProjectFacts(uuid4(), uuid4(), Visibility.ORG)
    # A member on an org project is a member even when granted viewer directly...
    assert (
        effective_role(_grants(OrgRole.MEMBER, user, {project.id: ProjectRole.VIEWER}), project)
        == ProjectRole.MEMBER
    )
    # ...and an admin through a team.
    grants = _grants(OrgRole.MEMBER, user, teams={project.id: ProjectRole.ADMIN})
    assert effective_role(grants, project) == ProjectRole.ADMIN
    # A guest gets exactly what was granted.
    guest = _grants(OrgRole.GUEST, user, {project.id: ProjectRole.VIEWER})
    assert effective_role(guest, project) == ProjectRole.VIEWER
    # Not a member any more: grants left behind count for nothing.
    gone = _grants(None, user, {project.id: ProjectRole.ADMIN})
    assert effective_role(gone, project) is None


def test_the_creator_administers_their_project() -> None:
    user = uuid4()
    project = ProjectFacts(uuid4(), user, Visibility.PRIVATE)
    assert effective_role(_grants(OrgRole.MEMBER, user), project) == ProjectRole.ADMIN


def test_highest() -> None:
    assert highest([]) is None
    assert highest([None, ProjectRole.VIEWER, ProjectRole.MEMBER]) == ProjectRole.MEMBER


@pytest.mark.parametrize(
    ("actor", "current", "new", "ok"),
    [
        ("owner", "member", "owner", True),
        ("owner", "owner", "member", True),
        ("admin", "member", "admin", True),
        ("admin", "guest", None, True),
        ("admin", "member", "owner", False),
        ("admin", "owner", "member", False),
        ("admin", "owner", None, False),
        ("member", "guest", "member", False),
        ("guest", "member", None, False),
    ],
)
def test_who_may_assign_org_roles(
    actor: str, current: str | None, new: str | None, ok: bool
) -> None:
    assert may_assign_org_role(actor, current=current, new=new) is ok


USERS = [uuid4() for _ in range(3)]
PROJECT_IDS = [uuid4() for _ in range(8)]


@st.composite
def _org(draw: st.DrawFn) -> tuple[Grants, OrgProjects]:
    projects = [
        ProjectFacts(pid, draw(st.sampled_from(USERS)), draw(st.sampled_from(list(Visibility))))
        for pid in draw(st.lists(st.sampled_from(PROJECT_IDS), unique=True, max_size=8))
    ]
    roles = st.dictionaries(
        st.sampled_from(PROJECT_IDS), st.sampled_from(list(ProjectRole)), max_size=4
    )
    grants = Grants(
        draw(st.sampled_from(USERS)),
        draw(st.none() | st.sampled_from(list(OrgRole))),
        draw(roles),
        draw(roles),
    )
    return grants, OrgProjects.of(projects)


@settings(database=None, deadline=None, max_examples=400)
@given(_org())
def test_the_readable_split_is_what_every_projects_role_says(
    org: tuple[Grants, OrgProjects],
) -> None:
    grants, projects = org
    split = readable_split(grants, projects)
    readable = [p.id for p in projects.facts if allows(effective_role(grants, p), Action.READ)]
    assert split.ids == readable
    assert split.texts == tuple(str(i) for i in readable)
    assert split.hidden == [p.id for p in projects.facts if p.id not in set(readable)]


def test_a_member_reads_org_projects_and_private_ones_only_when_granted() -> None:
    me, other = uuid4(), uuid4()
    public, mine, granted, closed = (uuid4() for _ in range(4))
    projects = OrgProjects.of(
        [
            ProjectFacts(public, other, Visibility.ORG),
            ProjectFacts(mine, me, Visibility.PRIVATE),
            ProjectFacts(granted, other, Visibility.PRIVATE),
            ProjectFacts(closed, other, Visibility.PRIVATE),
        ]
    )

    def split(grants: Grants) -> tuple[list[UUID], list[UUID]]:
        found = readable_split(grants, projects)
        assert found.texts == tuple(str(i) for i in found.ids)
        return found.ids, found.hidden

    member = Grants(me, OrgRole.MEMBER, {}, {granted: ProjectRole.VIEWER})
    assert split(member) == ([public, mine, granted], [closed])
    admin = Grants(me, OrgRole.ADMIN, {}, {})
    assert split(admin) == ([public, mine, granted, closed], [])
    # Everything readable: the text form is the organisation's own, not a copy.
    assert readable_split(admin, projects).texts is projects.texts
    guest = Grants(me, OrgRole.GUEST, {}, {})
    assert split(guest) == ([mine], [public, granted, closed])
    gone = Grants(me, None, {}, {})
    assert split(gone) == ([], [public, mine, granted, closed])
