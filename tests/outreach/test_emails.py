"""The built email of a delivery: both parts, placeholders filled (and escaped in HTML), the
one-click List-Unsubscribe headers, working links; and the faster build path gives the same
bytes as Django's standard one."""

import email
import email.policy
import random
import re
from email.policy import compat32

import pytest
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone
from django.utils.safestring import mark_safe

from surveys.models import Contact, Delivery, EmailTemplate, Invitation
from surveys.outreach import emails
from surveys.outreach.deliveries import deliveries_send
from surveys.outreach.waves import wave_create, wave_launch
from surveys.questionnaire.invitations import invitation_link
from tests.factories import (
    ContactFactory,
    invitation_with_token,
    open_survey,
    organisations_with_contacts,
)

pytestmark = pytest.mark.django_db

FIXED = {"Message-ID": "<fixed@eccp-survey.local>", "Date": "Wed, 25 Nov 2026 13:00:00 +0000"}


@pytest.fixture
def invitation_and_contact() -> tuple[Invitation, Contact]:
    survey = open_survey(title='Costs & "benefits" <2026>')
    contact = ContactFactory.create(name="Zoë <O'Brien>", email="zoe@example.org")
    invitation, _token = invitation_with_token(survey, organisation=contact.organisation)
    contact.organisation.name = "Acme & Sons <Cluster>"
    contact.organisation.save()
    invitation.refresh_from_db()
    return invitation, contact


def parsed(message: emails.SurveyEmail) -> email.message.EmailMessage:
    raw = message.message().as_bytes(linesep="\r\n")
    return email.message_from_bytes(raw, policy=email.policy.default)


def html_part(message: EmailMultiAlternatives) -> str:
    html = next(content for content, mimetype in message.alternatives if mimetype == "text/html")
    assert isinstance(html, str)
    return html


def test_default_invitation_has_both_parts_and_filled_placeholders(invitation_and_contact):
    invitation, contact = invitation_and_contact
    message = emails.email_message_build(
        invitation=invitation, contact=contact, kind="invitation", template=None
    )
    values = emails.placeholder_values(invitation=invitation, contact=contact)
    assert values["link"] == invitation_link(invitation)

    msg = parsed(message)
    assert msg.get_content_type() == "multipart/alternative"
    assert str(msg["To"]) == "zoe@example.org"
    assert str(msg["Subject"]) == 'Costs & "benefits" <2026>: your organisation\'s opinion'
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "{{" not in text and "{{" not in html
    assert "Dear Zoë <O'Brien>," in text
    assert "Acme & Sons <Cluster> is invited" in text
    assert values["link"] in text and values["unsubscribe_link"] in text
    # In HTML, names are escaped and links are clickable.
    assert "Dear Zoë &lt;O&#x27;Brien&gt;," in html
    assert "Acme &amp; Sons &lt;Cluster&gt;" in html
    assert "<Cluster>" not in html
    assert f'<a href="{values["link"]}">' in html
    assert f'<a href="{values["unsubscribe_link"]}">' in html
    assert "<title>Costs &amp; &quot;benefits&quot; &lt;2026&gt;: your organisation&#x27;s" in html
    # The one-click opt-out headers (RFC 8058).
    assert str(msg["List-Unsubscribe"]).strip() == f"<{values['unsubscribe_link']}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Message-ID"] and msg["Date"]


def test_staff_html_template_is_escaped_and_wrapped(invitation_and_contact):
    invitation, contact = invitation_and_contact
    template = EmailTemplate.objects.create(
        survey=invitation.survey,
        name="Custom",
        kind="invitation",
        subject="Hello {{ organisation }}",
        text_body="Hi {{contact_name}}: {{ link }}",
        html_body='<p>Hi {{ contact_name }}: <a href="{{ link }}">answer</a></p>',
    )
    message = emails.email_message_build(
        invitation=invitation, contact=contact, kind="invitation", template=template
    )
    values = emails.placeholder_values(invitation=invitation, contact=contact)
    assert message.subject == "Hello Acme & Sons <Cluster>"
    assert message.body == f"Hi Zoë <O'Brien>: {values['link']}"
    html = html_part(message)
    assert '<p>Hi Zoë &lt;O&#x27;Brien&gt;: <a href="' in html
    assert html.count("<html") == 1
    assert "<title>Hello Acme &amp; Sons &lt;Cluster&gt;</title>" in html


def test_html_wrapper_matches_the_template_rendered_each_time():
    cases = [
        ("A & <b>", "<p>x</p>", "S & <i>", "O <&>"),
        ("", "", "", ""),
        ("plain", "<p>é & ü</p>", "Ü", "ß"),
    ]
    for subject, body, sender, organisation in cases:
        assert emails.html_wrap(
            subject, body, sender=sender, organisation=organisation
        ) == render_to_string(
            "emails/message.html",
            {
                "subject": subject,
                "body": mark_safe(body),
                "sender": sender,
                "organisation": organisation,
            },
        )


def test_links_open_the_survey_and_the_opt_out_page(invitation_and_contact):
    invitation, contact = invitation_and_contact
    message = emails.email_message_build(
        invitation=invitation, contact=contact, kind="invitation", template=None
    )
    text = parsed(message).get_body(preferencelist=("plain",)).get_content()
    links = re.findall(r"https?://\S+", text)
    assert len(links) == 2
    personal, unsubscribe = (link[link.index("/", len("https://")) :] for link in links)
    client = Client()
    response = client.get(personal)
    assert response.status_code == 302
    assert str(invitation.public_id) in response["Location"]
    page = client.get(unsubscribe)
    assert page.status_code == 200
    assert "Stop emails about this survey?" in page.content.decode()
    header = str(parsed(message)["List-Unsubscribe"]).strip()[1:-1]
    assert header.endswith(unsubscribe)


def test_fast_mime_path_gives_the_bytes_of_django_standard_path(invitation_and_contact):
    invitation, contact = invitation_and_contact
    others = [Contact(name="", email="a@example.org"), contact]
    for kind in ("invitation", "reminder_not_started", "reminder_partial"):
        for someone in others:
            message = emails.email_message_build(
                invitation=invitation, contact=someone, kind=kind, template=None, headers=FIXED
            )
            fast = message.message()
            standard = EmailMultiAlternatives.message(message)
            boundary = fast.get_boundary()
            assert boundary is not None
            standard.set_boundary(boundary)
            expected = standard.as_bytes(linesep="\r\n")  # type: ignore[call-arg]  # django-stubs 6: 5.2 has it
            assert fast.as_bytes(linesep="\r\n") == expected


def test_fast_header_policy_folds_like_compat32():
    fast = emails.FAST_POLICY.clone(linesep="\r\n")
    standard = compat32.clone(linesep="\r\n")
    rng = random.Random(1)
    alphabet = 'ab ,;:<>@.="()-\té'
    for _ in range(5000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        name = rng.choice(["Subject", "To", "List-Unsubscribe", "X"])
        assert fast.fold_binary(name, value) == standard.fold_binary(name, value), (name, value)


# Data in emails: never a link, never a header line -----------------------------------------------

URL_IN_NAME = "Acme http://evil.example/login"


def anchors(html: str) -> list[str]:
    return re.findall(r'<a href="([^"]*)"', html)


def test_a_url_in_an_organisation_or_contact_name_is_text_not_a_link(invitation_and_contact):
    invitation, contact = invitation_and_contact
    contact.organisation.name = URL_IN_NAME
    contact.organisation.save()
    contact.name = "Eve https://evil.example/contact"
    invitation.refresh_from_db()
    values = emails.placeholder_values(invitation=invitation, contact=contact)

    for kind in ("invitation", "reminder_not_started", "reminder_partial"):
        message = emails.email_message_build(
            invitation=invitation, contact=contact, kind=kind, template=None
        )
        html = html_part(message)
        # Only our links are anchors; the names are there as escaped text.
        assert set(anchors(html)) == {values["link"], values["unsubscribe_link"]}, kind
        assert "evil.example" not in "".join(anchors(html))
        assert "Dear Eve https://evil.example/contact," in html
        if "{{ organisation }}" in emails.default_template_source(kind, "body"):
            assert URL_IN_NAME in html


def test_a_staff_text_template_keeps_its_own_urls_as_links_and_data_as_text(
    invitation_and_contact,
):
    invitation, contact = invitation_and_contact
    contact.organisation.name = URL_IN_NAME
    contact.organisation.save()
    invitation.refresh_from_db()
    template = EmailTemplate.objects.create(
        survey=invitation.survey,
        name="Custom",
        kind="invitation",
        subject="Hello",
        text_body="{{ organisation }}, see https://example.org/about\n\n{{ link }}.",
        html_body="",
    )
    message = emails.email_message_build(
        invitation=invitation, contact=contact, kind="invitation", template=template
    )
    values = emails.placeholder_values(invitation=invitation, contact=contact)

    html = html_part(message)
    assert anchors(html) == ["https://example.org/about", values["link"]]
    assert f'<p style="{emails.PARAGRAPH_STYLE}">{URL_IN_NAME}, see ' in html
    # The link ends where the placeholder ends: the full stop after it is text.
    assert f"{values['link']}</a>.</p>" in html


# Every character that breaks a header line: C0 and C1 controls, DEL, Unicode line separators.
HEADER_BREAKS = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]] + ["\u2028", "\u2029"]


@pytest.mark.parametrize("char", HEADER_BREAKS, ids=[f"U+{ord(c):04X}" for c in HEADER_BREAKS])
def test_no_control_character_of_the_data_reaches_a_header(invitation_and_contact, char):
    invitation, contact = invitation_and_contact
    # In memory only: PostgreSQL cannot store NUL.
    invitation.organisation.name = f"Acme{char}Bcc: victim@example.org"
    template = EmailTemplate.objects.create(
        survey=invitation.survey,
        name="Custom",
        kind="invitation",
        subject="For {{ organisation }}",
        text_body="{{ link }}",
        html_body="",
    )
    message = emails.email_message_build(
        invitation=invitation,
        contact=contact,
        kind="invitation",
        template=template,
        headers={"X-Extra": f"a{char}b"},
    )

    assert message.subject == "For Acme Bcc: victim@example.org"
    msg = parsed(message)
    assert str(msg["Subject"]) == "For Acme Bcc: victim@example.org"
    assert msg["Bcc"] is None
    assert str(msg["X-Extra"]) == "a b"


def test_an_organisation_with_cr_in_its_name_gets_its_email_once_with_a_clean_subject(
    smtp_sink,
):
    organisation = organisations_with_contacts(1)[0]
    organisation.name = "Acme\rCorp\r\nLtd"
    organisation.save()
    survey = open_survey()
    EmailTemplate.objects.create(
        survey=survey,
        name="Named",
        kind="invitation",
        subject="{{ organisation }}: {{ survey_title }}",
        text_body="{{ link }}",
        html_body="",
    )
    wave_launch(wave=wave_create(survey=survey, name="W", filters={}), now=timezone.now())

    report = deliveries_send(ids=list(Delivery.objects.values_list("pk", flat=True)))

    assert (report.sent, report.retried, report.failed) == (1, 0, 0)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.SENT and delivery.attempts == 1
    assert delivery.last_error == ""
    [received] = smtp_sink.messages
    assert str(received["Subject"]) == f"Acme Corp Ltd: {survey.title}"
