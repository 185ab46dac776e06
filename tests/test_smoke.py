import pytest
from django.contrib.auth.models import Group


@pytest.mark.django_db
def test_health_view_answers_ok(client):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.content == b"ok"


@pytest.mark.django_db
def test_roles_exist_as_groups_from_the_migration():
    assert set(Group.objects.values_list("name", flat=True)) >= {"Admin", "Staff", "Viewer"}
