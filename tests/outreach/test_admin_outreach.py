"""Staff screens for email templates and waves."""

from typing import Any

import pytest
from django.utils import timezone

from surveys.models import Delivery, EmailTemplate, Survey, Wave
from surveys.outreach.waves import wave_create, wave_launch
from surveys.questionnaire.invitations import invitation_create
from tests.factories import open_survey, organisations_with_contacts

pytestmark = pytest.mark.django_db


@pytest.fixture
def survey() -> Survey:
    return open_survey()


def template_data(survey: Survey, **changes: Any) -> dict[str, Any]:
    return {
        "survey": survey.pk,
        "name": "Friendly",
        "kind": "invitation",
        "subject": "Hello {{ organisation }}",
        "text_body": "Dear {{ contact_name }}, please answer: {{ link }} (until {{ deadline }})",
        "html_body": "",
        **changes,
    }


def test_template_with_an_unknown_placeholder_is_refused(admin_client, survey):
    response = admin_client.post(
        "/admin/surveys/emailtemplate/add/",
        template_data(survey, text_body="Hi {{ first_name }}, {{ link }}"),
    )
    assert response.status_code == 200
    assert "Unknown placeholder(s): {{ first_name }}" in response.content.decode()
    assert not EmailTemplate.objects.exists()


def test_template_is_saved_and_previewed_for_a_real_organisation_with_the_preview_link(
    admin_client, survey
):
    (organisation,) = organisations_with_contacts(1, prefix="zeta")
    invitation_create(survey=survey, organisation=organisation, now=timezone.now())
    response = admin_client.post("/admin/surveys/emailtemplate/add/", template_data(survey))
    assert response.status_code == 302
    template = EmailTemplate.objects.get()
    page = admin_client.get(f"/admin/surveys/emailtemplate/{template.pk}/change/").content.decode()
    assert "Hello zeta 000000" in page
    # Issue 9: the link in a preview opens the staff preview, not the organisation's answers.
    assert f"/staff/surveys/{survey.slug}/preview/" in page
    assert "/s/" not in page


def test_send_a_test_to_myself_goes_through_smtp(admin_client, admin_user, survey, smtp_sink):
    admin_user.email = "me@example.org"
    admin_user.save()
    admin_client.post("/admin/surveys/emailtemplate/add/", template_data(survey))
    template = EmailTemplate.objects.get()
    admin_client.post(
        "/admin/surveys/emailtemplate/",
        {"action": "send_test_to_myself", "_selected_action": [template.pk]},
    )
    assert [str(m["To"]) for m in smtp_sink.messages] == ["me@example.org"]
    assert str(smtp_sink.messages[0]["Subject"]) == "Hello Example Cluster Organisation"


def test_wave_preview_confirm_send_and_progress(admin_client, survey):
    organisations_with_contacts(3, prefix="be", country="BE")
    organisations_with_contacts(2, prefix="fr", country="FR")
    response = admin_client.post(
        "/admin/surveys/wave/add/",
        {"survey": survey.pk, "name": "Belgium first", "countries": ["BE"], "cosme": ""},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    wave = Wave.objects.get()
    assert wave.filters == {"countries": ["BE"]}
    assert wave.status == Wave.Status.DRAFT

    page = admin_client.get(f"/admin/surveys/wave/{wave.pk}/change/").content.decode()
    assert "3 organisations match the filters now." in page
    assert "Dear Contact 0" in page

    confirm = admin_client.get(f"/admin/surveys/wave/{wave.pk}/send/").content.decode()
    assert "Yes, send 3 invitations" in confirm
    assert not Delivery.objects.exists()  # the preview sends nothing

    sent = admin_client.post(f"/admin/surveys/wave/{wave.pk}/send/", follow=True)
    assert [str(m) for m in sent.context["messages"]] == ["Wave 'Belgium first': 3 emails queued."]
    assert Delivery.objects.filter(wave=wave).count() == 3
    # A second click.
    again = admin_client.post(f"/admin/surveys/wave/{wave.pk}/send/", follow=True)
    assert [str(m) for m in again.context["messages"]] == ["This wave was already sent."]
    assert Delivery.objects.filter(wave=wave).count() == 3

    progress = admin_client.get(f"/admin/surveys/wave/{wave.pk}/progress/").json()
    assert progress["queued"] == 3 and progress["sent"] == 0 and progress["invited"] == 3


WAVE_PAGES = ["send", "remind", "progress"]


@pytest.mark.parametrize("page", WAVE_PAGES)
def test_wave_pages_send_anonymous_visitors_to_the_login(client, survey, page):
    wave = Wave.objects.create(survey=survey, name="W")
    response = client.get(f"/admin/surveys/wave/{wave.pk}/{page}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("page", WAVE_PAGES)
def test_wave_pages_are_open_to_staff(client, staff_member, survey, page):
    wave = Wave.objects.create(survey=survey, name="W")
    client.force_login(staff_member)
    assert client.get(f"/admin/surveys/wave/{wave.pk}/{page}/").status_code == 200


@pytest.mark.parametrize("page", WAVE_PAGES)
def test_wave_pages_refuse_a_viewer_who_may_only_look_at_waves(client, viewer_member, survey, page):
    """The permission check of the wave's own views (send, remind, progress): a Viewer reaches
    the admin (a role gives is_staff) but may not change a wave, so the views answer 403."""
    wave = Wave.objects.create(survey=survey, name="W")
    client.force_login(viewer_member)
    assert client.get(f"/admin/surveys/wave/{wave.pk}/{page}/").status_code == 403


def test_a_viewers_post_to_send_a_wave_is_refused_and_sends_nothing(client, viewer_member, survey):
    organisations_with_contacts(2, prefix="be")
    wave = wave_create(survey=survey, name="Not yours", filters={})
    client.force_login(viewer_member)
    assert client.post(f"/admin/surveys/wave/{wave.pk}/send/").status_code == 403
    assert client.post(f"/admin/surveys/wave/{wave.pk}/remind/").status_code == 403
    wave.refresh_from_db()
    assert wave.status == Wave.Status.DRAFT
    assert not Delivery.objects.exists()


def test_a_launched_wave_shows_its_progress_and_remind_now(client, staff_member, survey):
    # Launched, the wave's fields are read-only: the form must not look for the template field.
    organisations_with_contacts(2, prefix="be")
    wave = wave_create(survey=survey, name="Sent", filters={})
    wave_launch(wave=wave, now=timezone.now())
    client.force_login(staff_member)

    page = client.get(f"/admin/surveys/wave/{wave.pk}/change/")

    assert page.status_code == 200
    body = page.content.decode()
    assert f'href="/admin/surveys/wave/{wave.pk}/remind/"' in body
    assert 'id="wave-progress"' in body
    assert "Send now" not in body


def test_each_wave_page_is_about_the_wave_in_its_address(client, staff_member, survey):
    organisations_with_contacts(2, prefix="be")
    sent = wave_create(survey=survey, name="Sent", filters={})
    wave_launch(wave=sent, now=timezone.now())
    draft = wave_create(survey=survey, name="Draft", filters={})
    client.force_login(staff_member)

    assert client.get(f"/admin/surveys/wave/{sent.pk}/progress/").json()["queued"] == 2
    assert client.get(f"/admin/surveys/wave/{draft.pk}/progress/").json()["queued"] == 0
    assert "Draft" in client.get(f"/admin/surveys/wave/{draft.pk}/send/").content.decode()
    assert client.get(f"/admin/surveys/wave/{draft.pk + sent.pk}/progress/").status_code == 404
