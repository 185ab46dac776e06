"""The invitation admin shows nobody a personal link; Admins resend or show it once, logged.
Email previews and test emails carry links to the staff preview, never a live one."""

import logging
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.utils import timezone

from surveys.models import Contact, Delivery, EmailTemplate, Invitation, Survey, Wave
from surveys.questionnaire.invitations import invitation_token
from tests.factories import invitation_with_token, open_survey, organisations_with_contacts

pytestmark = pytest.mark.django_db

# A personal link (/s/<token>/) or an unsubscribe link (/u/<token>/) with a real token.
LIVE_LINK = re.compile(r"/(?:s|u)/(?!example/)[A-Za-z0-9_.:-]+/")


@pytest.fixture
def survey() -> Survey:
    return open_survey()


@pytest.fixture
def invitation(survey: Survey) -> Invitation:
    (organisation,) = organisations_with_contacts(1, prefix="acme")
    invitation, _ = invitation_with_token(survey, organisation)
    invitation.contacts.set(organisation.contacts.all())
    return invitation


@pytest.mark.parametrize("role", ["staff_member", "admin_member"])
def test_no_role_sees_the_personal_link_on_the_change_page(client, request, role, invitation):
    client.force_login(request.getfixturevalue(role))
    page = client.get(f"/admin/surveys/invitation/{invitation.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert invitation_token(invitation) not in body
    assert not LIVE_LINK.search(body)
    assert "Not shown" in body


def test_staff_get_neither_action(client, staff_member, invitation):
    client.force_login(staff_member)
    listing = client.get("/admin/surveys/invitation/").content.decode()
    assert "show_personal_link_once" not in listing and "resend_invitation" not in listing
    for action in ("show_personal_link_once", "resend_invitation"):
        answer = client.post(
            "/admin/surveys/invitation/", {"action": action, "_selected_action": [invitation.pk]}
        )
        assert invitation_token(invitation) not in answer.content.decode()
    assert not Delivery.objects.exists()


def test_admin_sees_the_link_once_on_a_post_and_it_is_logged_without_the_token(
    client, admin_member, invitation, caplog
):
    client.force_login(admin_member)
    listing = client.get("/admin/surveys/invitation/").content.decode()
    assert "show_personal_link_once" in listing and not LIVE_LINK.search(listing)
    with caplog.at_level(logging.INFO, logger="surveys.audit"):
        shown = client.post(
            "/admin/surveys/invitation/",
            {"action": "show_personal_link_once", "_selected_action": [invitation.pk]},
        )
    token = invitation_token(invitation)
    assert f"/s/{token}/" in shown.content.decode()
    assert "no-store" in shown["Cache-Control"]
    (line,) = [r.getMessage() for r in caplog.records if r.name == "surveys.audit"]
    assert f"user={admin_member.pk}" in line and f"invitation={invitation.pk}" in line
    assert token not in line
    entry = LogEntry.objects.get(object_id=str(invitation.pk))
    assert entry.user == admin_member and "Showed the personal link" in entry.get_change_message()
    invitation.refresh_from_db()
    assert invitation.first_opened_at is None  # showing is not opening


def test_admin_resend_queues_one_email_per_reachable_contact_and_respects_opt_out(
    client, admin_member, survey, invitation
):
    Contact.objects.create(
        organisation=invitation.organisation,
        email="gone@example.org",
        suppressed_at=timezone.now(),
    )
    invitation.contacts.set(invitation.organisation.contacts.all())
    opted_out, _ = invitation_with_token(survey)
    opted_out.opted_out_at = timezone.now()
    opted_out.save()
    client.force_login(admin_member)
    client.post(
        "/admin/surveys/invitation/",
        {"action": "resend_invitation", "_selected_action": [invitation.pk, opted_out.pk]},
    )
    sent = Delivery.objects.all()
    assert [(d.invitation_id, d.contact.email, d.kind) for d in sent] == [
        (invitation.pk, "acme0@example.org", "invitation")
    ]
    assert sent.get().status == Delivery.Status.QUEUED and sent.get().wave is None


def template_data(survey: Survey) -> dict:
    return {
        "survey": survey.pk,
        "name": "Friendly",
        "kind": "invitation",
        "subject": "Hello {{ organisation }}",
        "text_body": "Dear {{ contact_name }}: {{ link }} (stop: {{ unsubscribe_link }})",
        "html_body": "",
    }


def test_previews_and_test_emails_link_to_the_staff_preview_only(
    client, staff_member, survey, invitation, smtp_sink
):
    staff_member.email = "me@example.org"
    staff_member.save()
    client.force_login(staff_member)
    client.post("/admin/surveys/emailtemplate/add/", template_data(survey))
    template = EmailTemplate.objects.get()
    wave = Wave.objects.create(survey=survey, name="W", template=template, filters={})
    preview_url = f"/staff/surveys/{survey.slug}/preview/"

    for url in (
        f"/admin/surveys/emailtemplate/{template.pk}/change/",
        f"/admin/surveys/wave/{wave.pk}/change/",
    ):
        body = client.get(url).content.decode()
        assert "Hello acme 000000" in body  # the real organisation's name
        assert preview_url in body
        assert not LIVE_LINK.search(body), url

    client.post(
        "/admin/surveys/emailtemplate/",
        {"action": "send_test_to_myself", "_selected_action": [template.pk]},
    )
    (message,) = smtp_sink.messages
    raw = message.as_string()
    assert preview_url in raw and not LIVE_LINK.search(raw)
    assert "/u/example/" in str(message["List-Unsubscribe"])
    # The example links open nothing: no invitation was created, opened or opted out.
    assert Invitation.objects.count() == 1
    assert Invitation.objects.filter(first_opened_at=None, opted_out_at=None).count() == 1
    assert Client().get("/u/example/").status_code == 404
