"""Roles: groups from migrations, with the admin access each role needs."""

import pytest
from django.contrib.auth.models import Group

from accounts.roles import STAFF, VIEWER, user_has_role

pytestmark = pytest.mark.django_db


def test_a_staff_member_can_use_the_admin_for_organisations_and_waves(client, staff_member):
    staff_member.refresh_from_db()
    assert staff_member.is_staff
    client.force_login(staff_member)
    assert client.get("/admin/surveys/clusterorganisation/").status_code == 200
    assert client.get("/admin/surveys/wave/").status_code == 200
    assert client.get("/admin/surveys/emailtemplate/add/").status_code == 200
    # Not the accounts: that is the Admin role's.
    assert client.get("/admin/accounts/user/").status_code == 403


def test_a_viewer_sees_surveys_but_cannot_change_them(client, viewer_member):
    client.force_login(viewer_member)
    assert client.get("/admin/surveys/survey/").status_code == 200
    assert client.get("/admin/surveys/survey/add/").status_code == 403
    assert client.get("/admin/surveys/clusterorganisation/").status_code == 403


def test_an_admin_member_manages_accounts(client, admin_member):
    client.force_login(admin_member)
    assert client.get("/admin/accounts/user/").status_code == 200


def test_role_check(staff_member, viewer_member, outsider):
    assert user_has_role(staff_member, "Staff")
    assert not user_has_role(viewer_member, "Staff", "Admin")
    assert not user_has_role(outsider, "Viewer")


# Staff access follows the roles ---------------------------------------------------------------


def _role(name):
    return Group.objects.get_or_create(name=name)[0]


def _is_staff(user):
    user.refresh_from_db()
    return user.is_staff


@pytest.mark.parametrize(
    "remove",
    [
        pytest.param(lambda user: user.groups.remove(_role(STAFF)), id="user.groups.remove"),
        pytest.param(lambda user: user.groups.clear(), id="user.groups.clear"),
        pytest.param(lambda user: _role(STAFF).user_set.remove(user), id="group.user_set.remove"),
        pytest.param(lambda user: _role(STAFF).user_set.clear(), id="group.user_set.clear"),
    ],
)
def test_leaving_the_last_role_clears_staff_access(client, staff_member, remove):
    assert _is_staff(staff_member)

    remove(staff_member)

    assert not _is_staff(staff_member)
    client.force_login(staff_member)
    assert client.get("/admin/").status_code == 302  # to the login page


def test_adding_a_role_from_the_group_side_grants_staff_access(outsider):
    _role(VIEWER).user_set.add(outsider)

    assert _is_staff(outsider)


def test_leaving_one_role_of_two_keeps_staff_access(staff_member):
    staff_member.groups.add(_role(VIEWER))

    staff_member.groups.remove(_role(STAFF))

    assert _is_staff(staff_member)


def test_other_groups_and_superusers_keep_staff_access(staff_member, admin_member):
    other = Group.objects.create(name="Newsletter")
    staff_member.groups.add(other)
    staff_member.groups.remove(other)
    assert _is_staff(staff_member)

    admin_member.is_superuser = True
    admin_member.save(update_fields=["is_superuser"])
    admin_member.groups.clear()
    assert _is_staff(admin_member)


def test_no_role_for_nobody_anonymous_or_inactive_users_and_every_role_for_superusers(
    staff_member, django_user_model
):
    from django.contrib.auth.models import AnonymousUser

    assert not user_has_role(None, "Staff")
    assert not user_has_role(AnonymousUser(), "Admin", "Staff", "Viewer")
    staff_member.is_active = False
    assert not user_has_role(staff_member, "Staff")
    superuser = django_user_model.objects.create_superuser(username="root", password="pw-root")
    assert user_has_role(superuser, "Admin")
    assert user_has_role(superuser, "Viewer")


def test_role_required_sends_anonymous_users_to_the_login_refuses_others_and_lets_members_in(
    rf, staff_member, viewer_member
):
    from django.contrib.auth.models import AnonymousUser
    from django.core.exceptions import PermissionDenied
    from django.http import HttpResponse

    from accounts.roles import role_required

    calls = []

    @role_required("Staff", "Admin")
    def view(request, slug):
        calls.append(slug)
        return HttpResponse("ok")

    anonymous = rf.get("/staff/surveys/x/?country=BE")
    anonymous.user = AnonymousUser()
    response = view(anonymous, slug="x")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/staff/surveys/x/%3Fcountry%3DBE"

    viewer = rf.get("/staff/surveys/x/")
    viewer.user = viewer_member
    with pytest.raises(PermissionDenied):
        view(viewer, slug="x")
    assert calls == []

    staff = rf.get("/staff/surveys/x/")
    staff.user = staff_member
    answer = view(staff, slug="x")
    assert isinstance(answer, HttpResponse) and answer.content == b"ok"
    assert calls == ["x"]
