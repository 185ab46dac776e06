"""Emails seen before they go (issue 10): a wave's send and remind confirm pages show the
rendered email (subject, HTML and text) for an example recipient, how many get it and when;
the HTML part is served on its own address under a policy of its own, for a sandboxed frame;
"Send me a test" puts the email in a real SMTP server's inbox at the staff member's address,
with example links only; and the default emails read well as plain text."""

import html as html_module
import itertools
import re

import pytest
from django.test import Client
from django.utils import timezone

from surveys.models import Delivery, EmailTemplate, Invitation, Response, Survey, Wave
from surveys.outreach import emails
from surveys.outreach.waves import wave_create, wave_launch
from tests.factories import invitation_with_token, open_survey, organisations_with_contacts

pytestmark = pytest.mark.django_db


@pytest.fixture
def survey() -> Survey:
    return open_survey(title="Cluster needs 2026")


@pytest.fixture
def staff_client(staff_member) -> Client:
    staff_member.email = "staffer@example.org"
    staff_member.first_name, staff_member.last_name = "Sam", "Staffer"
    staff_member.save()
    client = Client()
    client.force_login(staff_member)
    return client


def page_text(response) -> str:
    """What the page says: its text without tags, entities decoded."""
    return html_module.unescape(re.sub(r"<[^>]+>", "", response.content.decode()))


def test_send_confirm_shows_the_real_subject_and_body_for_an_example_recipient_and_the_count(
    staff_client, survey
):
    survey.sender_name = "ECCP Secretariat"
    survey.save()
    organisations_with_contacts(3, prefix="be", country="BE")
    organisations_with_contacts(2, prefix="fr", country="FR")
    template = EmailTemplate.objects.create(
        survey=survey,
        name="Spring",
        kind="invitation",
        subject="Your view, {{ organisation }}",
        text_body="Dear {{ contact_name }},\n\nPlease answer for {{ organisation }}:\n{{ link }}",
    )
    wave = wave_create(
        survey=survey, name="Belgium", filters={"countries": ["BE"]}, template=template
    )

    response = staff_client.get(f"/admin/surveys/wave/{wave.pk}/send/")

    assert response.status_code == 200
    page = page_text(response)
    # The example recipient is the first matching organisation (by name), with its contact.
    assert "The email as be 000000 will get it" in page
    assert "Your view, be 000000" in page  # the template's subject, filled in
    assert "Dear Contact 0,\n\nPlease answer for be 000000:" in page  # the text part
    assert "This email goes to 3 organisations: 3 emails" in page
    body = response.content.decode()
    assert "Yes, send 3 invitations" in body
    # The recipients are listed once, after the confirmation (a long list must not bury it).
    assert body.count('<table class="recipients">') == 1
    assert body.index("Yes, send 3 invitations") < body.index('<table class="recipients">')
    assert body.index('id="content"') < body.index('<table class="recipients">')
    assert "sending starts as soon as you confirm" in page
    assert "FromECCP Secretariat <survey@" in page
    # The HTML part is in a sandboxed frame whose address serves it.
    frame = re.search(
        r'<iframe class="email-frame" sandbox src="([^"]+)"', response.content.decode()
    )
    assert frame is not None
    assert frame.group(1) == f"/admin/surveys/wave/{wave.pk}/email/invitation/"
    # No personal link of anybody.
    assert "/s/" not in response.content.decode()


def test_the_html_part_is_served_for_the_frame_under_its_own_policy(staff_client, survey):
    organisations_with_contacts(1, prefix="nl", country="NL")
    wave = wave_create(survey=survey, name="All", filters={})

    response = staff_client.get(f"/admin/surveys/wave/{wave.pk}/email/invitation/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "<title>Cluster needs 2026: your organisation&#x27;s opinion</title>" in body
    assert "Open the questionnaire</a>" in body  # the button
    assert f"/staff/surveys/{survey.slug}/preview/" in body
    assert "/s/" not in body
    # The opt-out link is the example one, however long the page took to build.
    assert re.findall(r"/u/[^\s\"<]+", body) == ["/u/example/", "/u/example/"]
    policy = response["Content-Security-Policy"]
    assert "sandbox" in policy
    assert "script-src 'none'" in policy
    assert "frame-ancestors 'self'" in policy
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert staff_client.get(f"/admin/surveys/wave/{wave.pk}/email/nonsense/").status_code == 404


def test_remind_confirm_shows_each_reminder_variant_with_its_count(
    staff_client, admin_member, survey
):
    admin_client = Client()
    admin_client.force_login(admin_member)
    organisations = organisations_with_contacts(3, prefix="de", country="DE")
    wave = wave_create(survey=survey, name="All", filters={})
    wave_launch(wave=wave, now=timezone.now())
    Delivery.objects.filter(wave=wave).update(status=Delivery.Status.SENT, sent_at=timezone.now())
    started = Invitation.objects.get(survey=survey, organisation=organisations[0])
    now = timezone.now()
    Response.objects.create(invitation=started, survey=survey, started_at=now, last_saved_at=now)

    response = admin_client.get(f"/admin/surveys/wave/{wave.pk}/remind/")

    assert response.status_code == 200
    page = page_text(response)
    assert "Reminder: not started yet: the email as de 000001 will get it" in page
    assert "This email goes to 2 organisations: 2 emails" in page
    assert "Reminder: started, not submitted: the email as de 000000 will get it" in page
    assert "This email goes to 1 organisation: 1 email," in page
    assert "Thank you for starting" in page  # the partial variant's text
    assert "We have not yet received" in page  # the not-started variant's text
    assert "Yes, remind 3" in response.content.decode()
    assert '<table class="recipients">' in response.content.decode()

    # Staff may not learn who has not answered (docs/glossary.md, Roles): the same variants
    # and counts, for an example organisation, and no list of the reminded.
    response = staff_client.get(f"/admin/surveys/wave/{wave.pk}/remind/")
    page = page_text(response)
    assert "Reminder: started, not submitted: the email as Example Cluster Organisation" in page
    assert "This email goes to 1 organisation: 1 email," in page
    assert "Thank you for starting" in page
    assert "Yes, remind 3" in response.content.decode()
    assert "de 0000" not in page and '<table class="recipients">' not in page
    assert "Which organisations are reminded is for Admins" in page
    for kind in ("reminder_partial", "reminder_not_started"):
        frame = staff_client.get(f"/admin/surveys/wave/{wave.pk}/email/{kind}/").content
        assert b"de 0000" not in frame and b"Example Cluster Organisation" in frame


def test_send_me_a_test_reaches_the_smtp_server_at_my_address_with_no_real_token(
    staff_client, staff_member, survey, smtp_sink
):
    (organisation,) = organisations_with_contacts(1, prefix="it", country="IT")
    invitation, token = invitation_with_token(survey, organisation=organisation)
    wave = wave_create(survey=survey, name="Italy", filters={})

    response = staff_client.post(f"/admin/surveys/wave/{wave.pk}/email/invitation/test/")

    assert response.status_code == 302
    assert response["Location"] == f"/admin/surveys/wave/{wave.pk}/send/"
    assert len(smtp_sink.messages) == 1
    message = smtp_sink.messages[0]
    assert str(message["To"]) == "staffer@example.org"
    assert str(message["Subject"]) == "Cluster needs 2026: your organisation's opinion"
    raw = message.as_string()
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Dear Sam Staffer," in text
    assert f"/staff/surveys/{survey.slug}/preview/" in text  # the example link
    # Nothing that opens the organisation's answers or opts it out.
    assert token not in raw
    assert "/s/" not in raw
    assert emails.unsubscribe_token(invitation) not in raw
    assert set(re.findall(r"/u/[^\s\"<>]+", raw)) == {"/u/example/"}
    followed = staff_client.get(response["Location"])
    assert "Test email “Cluster needs 2026: your organisation's opinion” sent to" in page_text(
        followed
    )


def test_send_me_a_test_without_an_address_says_so_and_sends_nothing(
    staff_member, survey, smtp_sink
):
    organisations_with_contacts(1, prefix="es")
    wave = wave_create(survey=survey, name="Spain", filters={})
    client = Client()
    client.force_login(staff_member)  # no email address

    response = client.post(f"/admin/surveys/wave/{wave.pk}/email/invitation/test/", follow=True)

    assert "Your account has no email address: add one first." in page_text(response)
    assert smtp_sink.messages == []


@pytest.mark.parametrize("kind", [k for k, _ in EmailTemplate.Kind.choices])
def test_default_emails_read_well_as_plain_text(kind):
    """No line of a default message is broken in the middle of a sentence, and the unsubscribe
    address stands on a line of its own (generated over every kind of message)."""
    source = emails.text_body_tidy(emails.default_template_source(kind, "body"))
    lines = source.split("\n")
    assert "{{ unsubscribe_link }}" in lines
    for line, following in itertools.pairwise(lines):
        if line.strip() and following.strip():
            ends_sentence = bool(re.search(r"[.!?:,]\s*$|\}\}\s*$", line))
            assert ends_sentence, f"hard break mid-sentence: {line!r} / {following!r}"


def test_text_tidy_joins_mid_sentence_breaks_and_puts_the_unsubscribe_link_on_its_own_line():
    source = (
        "Dear {{ contact_name }},\n\nYour answers are saved on every page, so you can stop\n"
        "and come back until {{ deadline }}.\nThank you.\n\n"
        "Your link:\n{{ link }}\n\n- one item\n- another\n\n"
        "To stop receiving emails: {{ unsubscribe_link }} (one click)"
    )
    assert emails.text_body_tidy(source) == (
        "Dear {{ contact_name }},\n\nYour answers are saved on every page, so you can stop "
        "and come back until {{ deadline }}.\nThank you.\n\n"
        "Your link:\n{{ link }}\n\n- one item\n- another\n\n"
        "To stop receiving emails:\n{{ unsubscribe_link }}\n(one click)"
    )


def test_a_sent_invitation_carries_the_layout_the_sender_and_the_organisation(survey):
    survey.sender_name = "ECCP Secretariat"
    survey.save()
    (organisation,) = organisations_with_contacts(1, prefix="at", country="AT")
    invitation, _token = invitation_with_token(survey, organisation=organisation)
    contact = organisation.contacts.get()
    message = emails.email_message_build(
        invitation=invitation, contact=contact, kind="invitation", template=None
    )
    assert message.from_email.startswith("ECCP Secretariat <")
    html = str(
        next(content for content, mimetype in message.alternatives if mimetype == "text/html")
    )
    assert ">ECCP Secretariat</p>" in html
    assert "For at 000000</p>" in html
    link = emails.placeholder_values(invitation=invitation, contact=contact)["link"]
    assert re.search(rf'<a href="{re.escape(link)}" style="[^"]+">Open the questionnaire</a>', html)
    text = str(message.body)
    lines = text.split("\n")
    assert emails.unsubscribe_link(invitation) in lines  # on a line of its own
    assert link in lines


def test_a_survey_without_a_sender_name_uses_the_default_senders_name(survey, settings):
    settings.DEFAULT_FROM_EMAIL = "Platform team <team@example.eu>"
    assert emails.sender_name(survey) == "Platform team"
    assert emails.sender_address(survey) == "Platform team <team@example.eu>"
    survey.sender_name = "Survey desk"
    assert emails.sender_address(survey) == "Survey desk <team@example.eu>"


def test_viewers_see_no_confirm_page_nor_send_tests(viewer_member, survey):
    wave = Wave.objects.create(survey=survey, name="W")
    client = Client()
    client.force_login(viewer_member)
    assert client.get(f"/admin/surveys/wave/{wave.pk}/email/invitation/").status_code in (
        302,
        403,
    )


def test_an_example_email_swaps_token_links_built_at_another_second(survey, settings):
    """The opt-out token is signed with a timestamp: the swap must not depend on building
    the same link twice within one second."""
    from surveys.outreach.previews import _token_link_pattern

    site = settings.SITE_URL
    pattern = _token_link_pattern("surveys:unsubscribe", f"{site}/u/built-now/")
    later = f"Stop: {site}/u/IjZjOTEz:1xWd2E:jyl67JRt5EmJ/ and <{site}/u/other:1xWd2F:k/>"
    assert pattern.sub(f"{site}/u/example/", later) == (
        f"Stop: {site}/u/example/ and <{site}/u/example/>"
    )
    personal = _token_link_pattern("surveys:token_entry", f"{site}/s/abc/")
    assert personal.sub("PREVIEW", f"{site}/s/Zx-9_q/ {site}/staff/") == f"PREVIEW {site}/staff/"


def test_the_email_template_page_shows_the_html_part_in_a_frame_under_its_own_policy(
    staff_client, viewer_member, survey
):
    """The template's admin page shows the email as the confirm pages do: headers, the HTML
    part in a sandboxed frame served under the frame's own policy, and the text part."""
    (organisation,) = organisations_with_contacts(1, prefix="pt", country="PT")
    invitation_with_token(survey, organisation)
    template = EmailTemplate.objects.create(
        survey=survey,
        name="Spring",
        kind="invitation",
        subject="Your view, {{ organisation }}",
        text_body="Dear {{ contact_name }},\n\nPlease answer: {{ link }}",
        html_body='<p>Dear {{ contact_name }}, <a href="{{ link }}">answer for '
        "{{ organisation }}</a></p>",
    )

    page = staff_client.get(f"/admin/surveys/emailtemplate/{template.pk}/change/")

    assert page.status_code == 200
    text = page_text(page)
    assert "SubjectYour view, pt 000000" in text
    assert "Dear Contact 0,\n\nPlease answer:" in text  # the text part
    frame = re.search(r'<iframe class="email-frame" sandbox src="([^"]+)"', page.content.decode())
    assert frame is not None
    assert frame.group(1) == f"/admin/surveys/emailtemplate/{template.pk}/email/"
    html = staff_client.get(frame.group(1))
    assert html.status_code == 200
    body = html.content.decode()
    assert "answer for pt 000000</a>" in body  # the template's HTML part, filled in
    assert f"/staff/surveys/{survey.slug}/preview/" in body and "/s/" not in body
    policy = html["Content-Security-Policy"]
    assert "sandbox" in policy and "script-src 'none'" in policy
    assert "frame-ancestors 'self'" in policy and html["X-Frame-Options"] == "SAMEORIGIN"
    # The page itself keeps the strict policy, which lets it frame its own site.
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]
    viewer = Client()
    viewer.force_login(viewer_member)
    assert viewer.get(frame.group(1)).status_code in (302, 403)
    assert staff_client.get("/admin/surveys/emailtemplate/999999/email/").status_code == 404
