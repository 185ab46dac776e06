"""Roles: groups from migrations, with the admin access each role needs."""

import pytest

from accounts.roles import user_has_role

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
