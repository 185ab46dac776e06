"""Failed logins are throttled per account and per address (django-axes, counted in the
database so that every worker sees them), with a page that says so and an Admin unlock."""

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db

LOGIN_URL = "/admin/login/"
ATTEMPTS_URL = "/admin/axes/accessattempt/"
HOME = "10.0.0.1"
ELSEWHERE = "10.0.0.2"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Dozens of logins a test: the hash's cost is not what these tests are about.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def log_in(client: Client, username: str, password: str, *, address: str = HOME):
    return client.post(
        LOGIN_URL,
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def fail_until_locked(client: Client, username: str, *, address: str = HOME) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = log_in(client, username, "wrong password", address=address)
        assert response.status_code in (200, 429)  # the form again; the last one locks


def test_the_right_password_is_refused_after_too_many_wrong_ones(client, staff_member):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, staff_member.username, "wrong").status_code == 200
    assert log_in(client, staff_member.username, "wrong").status_code == 429

    response = log_in(client, staff_member.username, "pw-staff-member")

    assert response.status_code == 429
    page = response.content.decode()
    assert "Sign-in paused" in page
    assert f"There were {settings.AXES_FAILURE_LIMIT} failed sign-ins" in page
    assert "15 minutes" in page and "ask an Admin" in page
    assert not logged_in(client)


def test_fewer_failures_than_the_limit_still_let_the_right_password_in(client, staff_member):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, staff_member.username, "wrong")

    response = log_in(client, staff_member.username, "pw-staff-member")

    assert response.status_code == 302 and logged_in(client)


def test_a_locked_account_is_locked_from_every_address(client, staff_member):
    fail_until_locked(client, staff_member.username)

    response = log_in(Client(), staff_member.username, "pw-staff-member", address=ELSEWHERE)

    assert response.status_code == 429


def test_a_locked_address_is_locked_for_every_account(client, staff_member, viewer_member):
    # Guessing at many accounts from one address: one failure each, then the address is locked.
    for number in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, f"guess-{number}", "wrong")

    response = log_in(Client(), viewer_member.username, "pw-viewer-member")

    assert response.status_code == 429
    # The same account from another address is not locked: only that address is.
    elsewhere = log_in(Client(), viewer_member.username, "pw-viewer-member", address=ELSEWHERE)
    assert elsewhere.status_code == 302 and elsewhere["Location"] == "/admin/"


def test_an_admin_unlocks_by_deleting_the_attempts_and_the_login_works_again(
    client, staff_member, admin_member
):
    fail_until_locked(client, staff_member.username)
    admin = Client()
    admin.force_login(admin_member)

    changelist = admin.get(ATTEMPTS_URL)
    assert changelist.status_code == 200
    assert staff_member.username in changelist.content.decode()
    assert "Locked Out" in changelist.content.decode()
    ids = [str(pk) for pk in AccessAttempt.objects.values_list("pk", flat=True)]
    confirm = admin.post(ATTEMPTS_URL, {"action": "delete_selected", "_selected_action": ids})
    assert confirm.status_code == 200  # "Are you sure?"
    admin.post(ATTEMPTS_URL, {"action": "delete_selected", "_selected_action": ids, "post": "yes"})
    assert not AccessAttempt.objects.exists()

    response = log_in(client, staff_member.username, "pw-staff-member")

    assert response.status_code == 302 and logged_in(client)


def test_the_attempts_are_for_admins_only(client, staff_member, viewer_member):
    for member in (staff_member, viewer_member):
        client.force_login(member)
        assert client.get(ATTEMPTS_URL).status_code == 403


def test_an_unknown_account_counts_too_and_its_password_is_never_stored(client):
    fail_until_locked(client, "nobody")
    attempt = AccessAttempt.objects.get()
    assert attempt.username == "nobody"
    assert "wrong password" not in attempt.post_data
    assert not User.objects.filter(username="nobody").exists()


# Behind reverse proxies (TRUSTED_PROXIES, eccp_survey/addresses.py) ----------------------------

PROXY = "192.0.2.10"


def log_in_through_proxy(client: Client, username: str, password: str, *, forwarded: str):
    return client.post(
        LOGIN_URL,
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


def test_behind_a_trusted_proxy_a_guessing_address_locks_only_itself(
    client, settings, viewer_member
):
    settings.TRUSTED_PROXIES = 1
    for number in range(settings.AXES_FAILURE_LIMIT):
        log_in_through_proxy(client, f"guess-{number}", "wrong", forwarded=HOME)

    locked = log_in_through_proxy(Client(), viewer_member.username, "pw-viewer-member",
                                  forwarded=HOME)  # fmt: skip
    assert locked.status_code == 429
    # Everyone else behind the same proxy still signs in.
    elsewhere = log_in_through_proxy(
        Client(), viewer_member.username, "pw-viewer-member", forwarded=ELSEWHERE
    )
    assert elsewhere.status_code == 302 and elsewhere["Location"] == "/admin/"


def test_behind_a_trusted_proxy_an_address_the_client_wrote_is_ignored(client, settings):
    """The proxy appends the address it saw; whatever the client put before it is ignored, so
    a guesser cannot dodge its lock-out by writing a new address each time."""
    settings.TRUSTED_PROXIES = 1
    for number in range(settings.AXES_FAILURE_LIMIT):
        log_in_through_proxy(
            client, f"guess-{number}", "wrong", forwarded=f"10.9.9.{number}, {HOME}"
        )

    response = log_in_through_proxy(Client(), "guess-x", "wrong", forwarded=f"10.9.9.99, {HOME}")
    assert response.status_code == 429


def test_without_a_trusted_proxy_the_forwarded_header_is_ignored(client, settings, viewer_member):
    settings.TRUSTED_PROXIES = 0
    for number in range(settings.AXES_FAILURE_LIMIT):
        log_in_through_proxy(client, f"guess-{number}", "wrong", forwarded=f"10.9.9.{number}")

    # Counted against the connecting address: a new forwarded address does not get past it.
    response = log_in_through_proxy(
        Client(), viewer_member.username, "pw-viewer-member", forwarded=ELSEWHERE
    )
    assert response.status_code == 429
