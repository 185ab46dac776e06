"""Invitation and reminder emails: templates with placeholders, rendered into text and HTML
parts with the one-click unsubscribe headers of RFC 8058.

Placeholders are `{{ name }}` with a fixed list of names; staff text is never run as a Django
template (no template code from the database)."""

import re
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.html import escape

from surveys.models import Contact, EmailTemplate, Invitation, Survey
from surveys.services.invitations import invitation_link

PLACEHOLDERS = {
    "organisation": "the organisation's name",
    "contact_name": "the contact's name (or 'colleague')",
    "survey_title": "the survey's title",
    "link": "the personal link",
    "deadline": "the closing date",
    "unsubscribe_link": "the opt-out page",
}
PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
UNSUBSCRIBE_SALT = "surveys.unsubscribe"


def placeholders_unknown(*texts: str) -> list[str]:
    """Placeholder names used in the texts that do not exist, in order of appearance."""
    unknown: list[str] = []
    for text in texts:
        for name in PLACEHOLDER_RE.findall(text or ""):
            if name not in PLACEHOLDERS and name not in unknown:
                unknown.append(name)
    return unknown


def fill_placeholders(text: str, values: dict[str, str], *, html: bool = False) -> str:
    def replace(match: re.Match) -> str:
        value = values.get(match.group(1), match.group(0))
        return escape(value) if html else value

    return PLACEHOLDER_RE.sub(replace, text)


@cache
def default_template_source(kind: str, part: str) -> str:
    """The shipped text of a message part (templates/emails/<kind>_<part>.txt)."""
    path = settings.BASE_DIR / "templates" / "emails" / f"{kind}_{part}.txt"
    return path.read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class TemplateTexts:
    subject: str
    text_body: str
    html_body: str


def email_template_texts(*, kind: str, template: EmailTemplate | None) -> TemplateTexts:
    if template is not None:
        return TemplateTexts(template.subject, template.text_body, template.html_body)
    return TemplateTexts(
        default_template_source(kind, "subject"), default_template_source(kind, "body"), ""
    )


def survey_email_template(*, survey: Survey, kind: str) -> EmailTemplate | None:
    """The survey's own template of that kind (the most recently edited), or None for the
    shipped default."""
    return EmailTemplate.objects.filter(survey=survey, kind=kind).order_by("-updated_at").first()


def unsubscribe_token(invitation: Invitation) -> str:
    """A signed, non-secret-revealing token for the opt-out link. It cannot open the survey."""
    return signing.dumps(str(invitation.public_id), salt=UNSUBSCRIBE_SALT, compress=True)


def invitation_from_unsubscribe_token(token: str) -> Invitation | None:
    try:
        public_id = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    return Invitation.objects.filter(public_id=public_id).select_related("survey").first()


def unsubscribe_link(invitation: Invitation) -> str:
    path = reverse("surveys:unsubscribe", kwargs={"token": unsubscribe_token(invitation)})
    return f"{settings.SITE_URL}{path}"


def placeholder_values(*, invitation: Invitation, contact: Contact | None) -> dict[str, str]:
    survey = invitation.survey
    closes = timezone.localtime(survey.closes_at)
    return {
        "organisation": invitation.organisation.name,
        "contact_name": (contact.name if contact and contact.name else "colleague"),
        "survey_title": survey.title,
        "link": invitation_link(invitation),
        "deadline": format_date(closes, "j F Y"),
        "unsubscribe_link": unsubscribe_link(invitation),
    }


URL_RE = re.compile(r"https?://[^\s<>\"]+")


def _link(match: re.Match) -> str:
    url = match.group(0)
    return f'<a href="{url}">{url}</a>'


def _html_from_text(text: str) -> str:
    """Paragraphs and links of a plain-text body (its URLs are the ones we put in)."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "\n".join(
        "<p>" + URL_RE.sub(_link, escape(p)).replace("\n", "<br>\n") + "</p>" for p in paragraphs
    )


def email_message_build(
    *,
    invitation: Invitation,
    contact: Contact,
    kind: str,
    template: EmailTemplate | None,
    headers: dict[str, str] | None = None,
    connection=None,  # type: ignore[no-untyped-def]
) -> EmailMultiAlternatives:
    """The email of one delivery, ready to send, with text and HTML parts and the
    List-Unsubscribe headers (one-click, RFC 8058)."""
    texts = email_template_texts(kind=kind, template=template)
    values = placeholder_values(invitation=invitation, contact=contact)
    subject = fill_placeholders(texts.subject, values).replace("\n", " ").strip()
    text = fill_placeholders(texts.text_body, values)
    if texts.html_body:
        body_html = fill_placeholders(texts.html_body, values, html=True)
    else:
        body_html = _html_from_text(text)
    html = render_to_string("emails/message.html", {"subject": subject, "body": body_html})
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[contact.email],
        headers={
            "List-Unsubscribe": f"<{values['unsubscribe_link']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            **(headers or {}),
        },
        connection=connection,
    )
    message.attach_alternative(html, "text/html")
    return message
