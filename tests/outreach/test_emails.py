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
from django.utils.safestring import mark_safe

from surveys.models import Contact, EmailTemplate, Invitation
from surveys.outreach import emails
from surveys.questionnaire.invitations import invitation_link
from tests.factories import ContactFactory, invitation_with_token, open_survey

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
    for subject, body in [("A & <b>", "<p>x</p>"), ("", ""), ("plain", "<p>é & ü</p>")]:
        assert emails.html_wrap(subject, body) == render_to_string(
            "emails/message.html", {"subject": subject, "body": mark_safe(body)}
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
