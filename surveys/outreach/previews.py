"""Emails seen before they go: the rendered invitation or reminder of a wave for an example
recipient, who and how many will get it and when, and a test copy to a staff member's own
address.

An example email is built by the same `email_message_build` as the real ones, for an unsaved
invitation whose token is new and stored nowhere; its personal link is then swapped for the
staff preview of the survey and its opt-out link for one that opts nobody out. So neither a
preview nor a test email ever carries a link that opens a respondent's answers, marks an
invitation opened or opts anybody out (docs/architecture.md, identified data)."""

import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import EmailAlternative
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse

from surveys.models import (
    ClusterOrganisation,
    Contact,
    EmailTemplate,
    Invitation,
    Response,
    Survey,
    Wave,
)
from surveys.outreach.emails import email_message_build, survey_email_template, unsubscribe_link
from surveys.outreach.reminders import wave_reminder_recipients
from surveys.outreach.waves import organisations_matching
from surveys.questionnaire.invitations import invitation_link, new_token_fields

EXAMPLE_CONTACT_NAME = "Alex Example"
EXAMPLE_CONTACT_EMAIL = "alex@example.org"
EXAMPLE_ORGANISATION_NAME = "Example Cluster Organisation"


def example_invitation(
    *, survey: Survey, organisation: ClusterOrganisation | None = None
) -> Invitation:
    """An unsaved invitation to show an email with: for the organisation given, else for the
    organisation of the survey's first invitation, else for an example organisation. Its token
    is new and stored nowhere, so its links open nothing (and `example_email` swaps them for
    the staff preview)."""
    if organisation is None:
        first = Invitation.objects.filter(survey=survey).select_related("organisation").first()
        organisation = (
            first.organisation
            if first is not None
            else ClusterOrganisation(name=EXAMPLE_ORGANISATION_NAME, country="BE")
        )
    return Invitation(survey=survey, organisation=organisation, **new_token_fields())


def example_email(
    *, invitation: Invitation, contact: Contact, kind: str, template: EmailTemplate | None
) -> EmailMultiAlternatives:
    """The email as a recipient would get it, except that the personal link opens the staff
    preview of the survey and the unsubscribe link opts nobody out."""
    message = email_message_build(
        invitation=invitation, contact=contact, kind=kind, template=template
    )
    preview = settings.SITE_URL + reverse(
        "surveys:preview", kwargs={"slug": invitation.survey.slug}
    )
    no_opt_out = settings.SITE_URL + reverse("surveys:unsubscribe", kwargs={"token": "example"})
    # Every token link is swapped, whatever its token: the opt-out token is signed with a
    # timestamp, so building it again a second later would not give the same text.
    swaps = [
        (_token_link_pattern("surveys:token_entry", invitation_link(invitation)), preview),
        (_token_link_pattern("surveys:unsubscribe", unsubscribe_link(invitation)), no_opt_out),
    ]

    def swapped(text: str) -> str:
        for pattern, example in swaps:
            text = pattern.sub(example, text)
        return text

    message.body = swapped(str(message.body))
    message.alternatives = [
        EmailAlternative(swapped(str(content)), mimetype)
        for content, mimetype in message.alternatives
    ]
    message.extra_headers = {name: swapped(value) for name, value in message.extra_headers.items()}
    return message


def _token_link_pattern(view: str, example: str) -> re.Pattern[str]:
    """Any link to `view` with any token (and `example`, the link as built, to be sure)."""
    sentinel = "TOKEN0SENTINEL"
    before, _, after = (settings.SITE_URL + reverse(view, kwargs={"token": sentinel})).partition(
        sentinel
    )
    return re.compile(f"{re.escape(example)}|{re.escape(before)}[^\\s\"'<>/]+{re.escape(after)}")


def _example_contact(invitation: Invitation) -> Contact:
    organisation = invitation.organisation
    contact = (
        organisation.contacts.filter(suppressed_at__isnull=True).order_by("pk").first()
        if organisation.pk
        else None
    )
    return contact or Contact(name=EXAMPLE_CONTACT_NAME, email=EXAMPLE_CONTACT_EMAIL)


def rendered_preview(
    *, invitation: Invitation, kind: str, template: EmailTemplate | None
) -> dict[str, str]:
    """The example email's parts: to, from, subject, text and HTML."""
    contact = _example_contact(invitation)
    message = example_email(invitation=invitation, contact=contact, kind=kind, template=template)
    html = next(content for content, mimetype in message.alternatives if mimetype == "text/html")
    return {
        "to": contact.email,
        "to_name": contact.name,
        "from": str(message.from_email),
        "subject": str(message.subject),
        "text": str(message.body),
        "html": str(html),
    }


@dataclass(frozen=True)
class EmailPreview:
    """One message a confirm page shows: which kind, to how many, for which example."""

    kind: str  # an EmailTemplate.Kind
    kind_label: str
    organisations: int  # organisations that get this message
    emails: int  # emails: one per contact that can receive email
    organisation: ClusterOrganisation  # the example recipient's (unsaved: an example)
    email: dict[str, str]  # rendered_preview()


def _template_for(wave: Wave, kind: str) -> EmailTemplate | None:
    """The template the send path uses for this kind (deliveries._BatchTemplates)."""
    if kind == EmailTemplate.Kind.INVITATION and wave.template is not None:
        return wave.template
    return survey_email_template(survey=wave.survey, kind=kind)


def _emails_to(organisations: QuerySet[ClusterOrganisation]) -> int:
    return Contact.objects.filter(
        organisation__in=organisations.values("pk"), suppressed_at__isnull=True
    ).count()


def _preview(
    *,
    wave: Wave,
    kind: str,
    organisations: QuerySet[ClusterOrganisation],
    named: bool = True,
) -> EmailPreview:
    """The email for the first of `organisations` (by name), or with `named` false for an
    example organisation that is none of them."""
    first = (
        organisations.order_by("name", "pk").first()
        if named
        else ClusterOrganisation(name=EXAMPLE_ORGANISATION_NAME, country="BE")
    )
    invitation = example_invitation(survey=wave.survey, organisation=first)
    return EmailPreview(
        kind=kind,
        kind_label=EmailTemplate.Kind(kind).label,
        organisations=organisations.count(),
        emails=_emails_to(organisations),
        organisation=invitation.organisation,
        email=rendered_preview(
            invitation=invitation, kind=kind, template=_template_for(wave, kind)
        ),
    )


def wave_invitation_preview(*, wave: Wave) -> EmailPreview:
    """The invitation "send" would queue: to the organisations the wave's filters match now,
    shown for the first of them (by name)."""
    matching = organisations_matching(survey=wave.survey, filters=wave.filters)
    organisations = ClusterOrganisation.objects.filter(pk__in=matching.values("pk"))
    return _preview(wave=wave, kind=EmailTemplate.Kind.INVITATION, organisations=organisations)


def wave_reminder_previews(
    *, wave: Wave, now: datetime, identified: bool = True
) -> list[EmailPreview]:
    """The reminders "remind now" would queue, one preview per variant that somebody would
    get: "not started yet" and "started, not submitted" (the send path picks the variant by
    the respondent's state when it sends). With nobody to remind, the "not started" variant
    for an example organisation, so that the page still shows the words. Unless `identified`
    (an Admin), every variant is shown for an example organisation: who gets a reminder, and
    which, tells who has not answered (docs/glossary.md, Roles)."""
    recipients = wave_reminder_recipients(wave=wave, now=now)
    started = Response.objects.filter(invitation=OuterRef("pk"))
    previews = []
    for kind, has_started in (
        (EmailTemplate.Kind.REMINDER_NOT_STARTED, False),
        (EmailTemplate.Kind.REMINDER_PARTIAL, True),
    ):
        invitations = Invitation.objects.filter(pk__in=recipients.values("pk"))
        invitations = (
            invitations.filter(Exists(started))
            if has_started
            else invitations.exclude(Exists(started))
        )
        organisations = ClusterOrganisation.objects.filter(
            pk__in=invitations.values("organisation_id")
        )
        if organisations.exists():
            previews.append(
                _preview(wave=wave, kind=kind, organisations=organisations, named=identified)
            )
    if not previews:
        previews.append(
            _preview(
                wave=wave,
                kind=EmailTemplate.Kind.REMINDER_NOT_STARTED,
                organisations=ClusterOrganisation.objects.none(),
            )
        )
    return previews


def wave_email_html(*, wave: Wave, kind: str, now: datetime, identified: bool = True) -> str:
    """The HTML part of the preview of one kind, for the confirm pages' frame."""
    if kind == EmailTemplate.Kind.INVITATION:
        return wave_invitation_preview(wave=wave).email["html"]
    for preview in wave_reminder_previews(wave=wave, now=now, identified=identified):
        if preview.kind == kind:
            return preview.email["html"]
    invitation = example_invitation(survey=wave.survey)
    return rendered_preview(invitation=invitation, kind=kind, template=_template_for(wave, kind))[
        "html"
    ]


class TestEmailError(ValueError):
    """A test email that cannot go: the staff member's account has no address."""


def wave_test_email_send(
    *, wave: Wave, kind: str, name: str, address: str, now: datetime, identified: bool = True
) -> str:
    """Send the wave's email of that kind, as the confirm page shows it (for the same example
    organisation), to `address` only; returns the subject. Its links are the example links
    (example_email): the staff preview and an opt-out that opts nobody out. Raises
    TestEmailError without an address."""
    if not address:
        raise TestEmailError("Your account has no email address: add one first.")
    if kind == EmailTemplate.Kind.INVITATION:
        previews = [wave_invitation_preview(wave=wave)]
    else:
        previews = [
            p
            for p in wave_reminder_previews(wave=wave, now=now, identified=identified)
            if p.kind == kind
        ]
    organisation = previews[0].organisation if previews else None
    invitation = example_invitation(survey=wave.survey, organisation=organisation)
    me = Contact(name=name, email=address)
    message = example_email(
        invitation=invitation, contact=me, kind=kind, template=_template_for(wave, kind)
    )
    message.send()
    return str(message.subject)
