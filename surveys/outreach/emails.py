"""Invitation and reminder emails: templates with placeholders, rendered into text and HTML
parts with the one-click unsubscribe headers of RFC 8058.

Placeholders are `{{ name }}` with a fixed list of names; staff text is never run as a Django
template (no template code from the database)."""

import random
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from email.policy import Compat32
from email.utils import formataddr, parseaddr
from functools import cache, lru_cache
from typing import cast

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import SafeMIMEMultipart, SafeMIMEText
from django.template.loader import render_to_string
from django.urls import get_script_prefix, reverse
from django.utils import timezone, translation
from django.utils.dateformat import format as format_date
from django.utils.html import escape
from django.utils.safestring import mark_safe

from surveys.models import Contact, EmailTemplate, Invitation, Survey
from surveys.questionnaire.invitations import invitation_token

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


# A line that ends a sentence, a greeting or an introduction ("...:"), or a placeholder.
_LINE_END_RE = re.compile(r"[.!?:;,)\]}\"”»]\s*$")
_LIST_ITEM_RE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s")
_UNSUBSCRIBE_RE = re.compile(r"[ \t]*(\{\{\s*unsubscribe_link\s*\}\})[ \t]*")


@lru_cache(maxsize=128)
def text_body_tidy(text: str) -> str:
    """A plain-text template as it should read in a mail client, which wraps lines itself:
    a line broken in the middle of a sentence is joined to the next (it does not end with
    punctuation or a placeholder and the next line goes on with a word, or the next begins in
    lower case), and the {{ unsubscribe_link }} placeholder stands on a line of its own.
    Links, list items and blank lines between paragraphs stay as written. Cached per text:
    templates are few, messages many."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _UNSUBSCRIBE_RE.sub(lambda match: "\n" + match.group(1) + "\n", text)
    lines: list[str] = []
    for raw in text.split("\n"):
        line = raw.rstrip()
        previous = lines[-1] if lines else ""
        if (
            line.strip()
            and previous.strip()
            and not _LIST_ITEM_RE.match(line)
            and not PLACEHOLDER_RE.fullmatch(line.strip())
            and not PLACEHOLDER_RE.fullmatch(previous.strip())
            and not URL_RE.search(previous)
            and not line.lstrip().startswith(("http://", "https://"))
            and (
                line.lstrip()[:1].islower()
                or (not _LINE_END_RE.search(previous) and line.lstrip()[:1].isalnum())
            )
        ):
            lines[-1] = f"{previous} {line.strip()}"
            continue
        lines.append(line)
    # The unsubscribe line's own breaks may have doubled blank lines, or left one at the end.
    tidy = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return tidy.strip("\n")


DEFAULT_SENDER_NAME = "ECCP survey"


@lru_cache(maxsize=64)
def _sender_parts(sender_name: str, default_from: str) -> tuple[str, str]:
    default_name, address = parseaddr(default_from)
    name = header_value_clean(sender_name) or default_name or DEFAULT_SENDER_NAME
    return name, formataddr((name, address)) if address else header_value_clean(default_from)


def sender_name(survey: Survey) -> str:
    """The name the survey's emails come from: the survey's own, else the name of
    DEFAULT_FROM_EMAIL, else "ECCP survey"."""
    return _sender_parts(survey.sender_name, settings.DEFAULT_FROM_EMAIL)[0]


def sender_address(survey: Survey) -> str:
    """The From header of the survey's emails: its sender name with DEFAULT_FROM_EMAIL's
    address."""
    return _sender_parts(survey.sender_name, settings.DEFAULT_FROM_EMAIL)[1]


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
    return _token_url("surveys:unsubscribe", unsubscribe_token(invitation))


# Tokens made of these characters come out of reverse() unchanged (no percent-encoding).
_PLAIN_TOKEN_RE = re.compile(r"[A-Za-z0-9_.:-]+")
_TOKEN_SENTINEL = "TOKENSENTINEL0"


@lru_cache(maxsize=64)
def _token_url_parts(view: str, site_url: str, script_prefix: str) -> tuple[str, str] | None:
    url = f"{site_url}{reverse(view, kwargs={'token': _TOKEN_SENTINEL})}"
    if url.count(_TOKEN_SENTINEL) != 1:
        return None
    before, after = url.split(_TOKEN_SENTINEL)
    return before, after


def _token_url(view: str, token: str) -> str:
    """SITE_URL + reverse(view, token=token), with the URL resolved once rather than per
    message (reverse() is a noticeable share of building a message)."""
    parts = _token_url_parts(view, settings.SITE_URL, get_script_prefix())
    if parts is None or not _PLAIN_TOKEN_RE.fullmatch(token):
        return f"{settings.SITE_URL}{reverse(view, kwargs={'token': token})}"
    return f"{parts[0]}{token}{parts[1]}"


def _invitation_link(invitation: Invitation) -> str:
    """The same URL as invitations.invitation_link, without a reverse() per message."""
    return _token_url("surveys:token_entry", invitation_token(invitation))


@lru_cache(maxsize=256)
def _deadline_text(closes_at: datetime, timezone_name: str, language: str | None) -> str:
    return format_date(timezone.localtime(closes_at), "j F Y")


def placeholder_values(*, invitation: Invitation, contact: Contact | None) -> dict[str, str]:
    survey = invitation.survey
    return {
        "organisation": invitation.organisation.name,
        "contact_name": (contact.name if contact and contact.name else "colleague"),
        "survey_title": survey.title,
        "link": _invitation_link(invitation),
        "deadline": _deadline_text(
            survey.closes_at, timezone.get_current_timezone_name(), translation.get_language()
        ),
        "unsubscribe_link": unsubscribe_link(invitation),
    }


URL_RE = re.compile(r"https?://[^\s<>\"]+")
# The placeholders whose values are our own links: the only values that become anchors.
LINK_PLACEHOLDERS = frozenset({"link", "unsubscribe_link"})


def _link(match: re.Match[str]) -> str:
    url = match.group(0)
    return f'<a href="{url}">{url}</a>'


def _html_paragraph(paragraph: str, values: dict[str, str]) -> str:
    """One paragraph of a text template as HTML, its placeholders filled: the template's own
    text is escaped and its URLs linked; a link placeholder becomes an anchor; any other value
    (an organisation's name, a contact's name) stays escaped text, a URL in it included."""
    parts: list[str] = []
    position = 0
    for match in PLACEHOLDER_RE.finditer(paragraph):
        parts.append(URL_RE.sub(_link, escape(paragraph[position : match.start()])))
        name = match.group(1)
        if name in LINK_PLACEHOLDERS and name in values:
            url = escape(values[name])
            parts.append(f'<a href="{url}">{url}</a>')
        else:
            parts.append(escape(values.get(name, match.group(0))))
        position = match.end()
    parts.append(URL_RE.sub(_link, escape(paragraph[position:])))
    return "".join(parts)


# Inline styles: mail clients drop style sheets (this is an email, not one of our pages).
PARAGRAPH_STYLE = "margin:0 0 16px;"
BUTTON_STYLE = (
    "display:inline-block;background:#003399;color:#ffffff;font-weight:bold;"
    "text-decoration:none;padding:12px 24px;border-radius:4px;font-size:17px;"
)
SMALL_STYLE = "margin:0 0 16px;font-size:14px;color:#4a4f55;word-break:break-all;"
LINK_BUTTON_LABEL = "Open the questionnaire"
_LINK_LINE_RE = re.compile(r"^\s*\{\{\s*link\s*\}\}\s*$")


def _button(url: str) -> str:
    """The personal link as a clear button, and the address under it for mail clients that
    show no button (and for copying)."""
    url = escape(url)
    return (
        f'<p style="{PARAGRAPH_STYLE}"><a href="{url}" style="{BUTTON_STYLE}">'
        f"{LINK_BUTTON_LABEL}</a></p>\n"
        f'<p style="{SMALL_STYLE}">Or open this address: <a href="{url}">{url}</a></p>'
    )


def _html_from_text(text: str, values: dict[str, str]) -> str:
    """Paragraphs and links of a plain-text body template, its placeholders filled. Only our
    links become anchors (see _html_paragraph): data never does. A {{ link }} on a line of its
    own becomes a button."""
    blocks: list[str] = []
    for paragraph in (p.strip() for p in re.split(r"\n\s*\n", text)):
        if not paragraph:
            continue
        lines: list[str] = []
        for line in paragraph.split("\n"):
            if _LINK_LINE_RE.match(line) and "link" in values:
                if lines:
                    blocks.append(f'<p style="{PARAGRAPH_STYLE}">' + "<br>\n".join(lines) + "</p>")
                    lines = []
                blocks.append(_button(values["link"]))
            else:
                lines.append(_html_paragraph(line, values))
        if lines:
            blocks.append(f'<p style="{PARAGRAPH_STYLE}">' + "<br>\n".join(lines) + "</p>")
    return "\n".join(blocks)


# Runs of control characters (CR, LF, tab, NUL, DEL, C1) and the Unicode line and paragraph
# separators, with the spaces around them: none may stay in a header value.
_HEADER_BREAK_RE = re.compile(r"\s*[\x00-\x1f\x7f-\x9f\u2028\u2029]+\s*")


def header_value_clean(value: str) -> str:
    """A header value on one line: each run of control characters (CR and LF among them)
    becomes one space. Data (an organisation's name in a subject) can then neither add a
    header nor make Django refuse the message (BadHeaderError), which would retry forever."""
    return _HEADER_BREAK_RE.sub(" ", value).strip()


_SENTINELS = {
    "subject": "\x00SUBJECT\x00",
    "body": "\x00BODY\x00",
    "sender": "\x00SENDER\x00",
    "organisation": "\x00ORGANISATION\x00",
}
_SENTINEL_RE = re.compile("(" + "|".join(_SENTINELS.values()) + ")")


@cache
def _wrapper_pieces(template_name: str) -> tuple[str, ...]:
    """templates/emails/message.html rendered once, cut where the subject, the body, the
    sender's and the organisation's names go: literal text at even positions, a sentinel at
    odd ones."""
    context = {name: sentinel for name, sentinel in _SENTINELS.items()}
    rendered = render_to_string(template_name, {**context, "body": mark_safe(_SENTINELS["body"])})
    return tuple(_SENTINEL_RE.split(rendered))


def html_wrap(
    subject: str,
    body_html: str,
    template_name: str = "emails/message.html",
    *,
    sender: str = "",
    organisation: str = "",
) -> str:
    """The same text as render_to_string(template_name, {"subject", "body", "sender",
    "organisation"}) (the names escaped, the body as is), from a copy of the template
    rendered once per process. In DEBUG the template is rendered every time, so that edits
    show at once."""
    if settings.DEBUG:
        return render_to_string(
            template_name,
            {
                "subject": subject,
                "body": mark_safe(body_html),
                "sender": sender,
                "organisation": organisation,
            },
        )
    values = {
        _SENTINELS["subject"]: escape(subject),
        _SENTINELS["body"]: body_html,
        _SENTINELS["sender"]: escape(sender),
        _SENTINELS["organisation"]: escape(organisation),
    }
    pieces = _wrapper_pieces(template_name)
    return "".join(piece if i % 2 == 0 else values[piece] for i, piece in enumerate(pieces))


class _FastCompat32(Compat32):
    """The compat32 policy Django's messages use, minus the cost of email.header.Header for
    the usual header: short, ASCII, single spaces, nothing to fold or encode. For such a value
    Header(value).encode() returns the value unchanged (tests/outreach/test_emails.py compares
    the bytes of both policies); anything else goes the standard way."""

    def _fold(self, name: str, value: object, sanitize: bool) -> str:
        if (
            isinstance(value, str)
            and value
            and value.isascii()
            and value.isprintable()
            and value == value.strip()
            and "  " not in value
            and (self.max_line_length is None or len(name) + 2 + len(value) <= self.max_line_length)
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)  # type: ignore[misc]  # typeshed omits the private _fold


FAST_POLICY = _FastCompat32()
_BOUNDARY_WIDTH = len(repr(sys.maxsize - 1))


class SurveyEmail(EmailMultiAlternatives):
    """An EmailMultiAlternatives whose MIME bytes are the same as Django's but cheaper to make:
    the multipart boundary is chosen up front (the email package otherwise compiles a regular
    expression per message to check its random boundary against the text) and short plain
    headers skip email.header.Header."""

    # Set per message for django-anymail's backends, which send it to the email service.
    metadata: dict[str, str]

    def message(self) -> SafeMIMEText | SafeMIMEMultipart:  # type: ignore[override]  # django-stubs: 6.0's message(*, policy)
        # Django 5.2's message() builds one of these (django-stubs 6 describes 6.0's).
        msg = cast(SafeMIMEText | SafeMIMEMultipart, super().message())
        msg.policy = FAST_POLICY
        if msg.is_multipart() and msg.get_boundary() is None:
            texts = [self.body, *(content for content, _ in self.alternatives)]
            while True:
                # The email package's own format (generator._make_boundary).
                token = random.randrange(sys.maxsize)  # not security: only must be unique
                boundary = ("=" * 15) + f"{token:0{_BOUNDARY_WIDTH}d}" + "=="
                if not any(isinstance(t, str) and boundary in t for t in texts):
                    break
            msg.set_boundary(boundary)
        return msg


def email_message_build(
    *,
    invitation: Invitation,
    contact: Contact,
    kind: str,
    template: EmailTemplate | None,
    headers: dict[str, str] | None = None,
    connection: BaseEmailBackend | None = None,
) -> SurveyEmail:
    """The email of one delivery, ready to send, with text and HTML parts and the
    List-Unsubscribe headers (one-click, RFC 8058). Every header value is on one line
    (header_value_clean); in the HTML part only our links are anchors."""
    texts = email_template_texts(kind=kind, template=template)
    values = placeholder_values(invitation=invitation, contact=contact)
    subject = header_value_clean(fill_placeholders(texts.subject, values))
    text_body = text_body_tidy(texts.text_body)
    text = fill_placeholders(text_body, values)
    if texts.html_body:
        body_html = fill_placeholders(texts.html_body, values, html=True)
    else:
        body_html = _html_from_text(text_body, values)
    survey = invitation.survey
    html = html_wrap(
        subject, body_html, sender=sender_name(survey), organisation=values["organisation"]
    )
    all_headers = {
        "List-Unsubscribe": f"<{values['unsubscribe_link']}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        **(headers or {}),
    }
    message = SurveyEmail(
        subject=subject,
        body=text,
        from_email=sender_address(survey),
        to=[header_value_clean(contact.email)],
        headers={name: header_value_clean(value) for name, value in all_headers.items()},
        connection=connection,
    )
    message.attach_alternative(html, "text/html")
    return message
