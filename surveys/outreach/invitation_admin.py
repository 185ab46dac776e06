"""The invitation admin. Nobody sees a personal link here: it opens the organisation's answers
and marks the invitation opened. Admins have two explicit, logged actions instead: resend the
invitation (through the outreach services, so suppression and opt-out hold as for any send) and
show the link once (a POST, answered with a page that is not cached)."""

import logging

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from accounts.roles import ADMIN, user_has_role
from surveys.models import Invitation
from surveys.outreach.resending import invitation_resend
from surveys.questionnaire.invitations import invitation_link, new_token_fields

# Who showed or resent which invitation's link, and when (never the token).
audit_log = logging.getLogger("surveys.audit")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["organisation", "survey", "first_opened_at", "opted_out_at", "created_at"]
    list_filter = ["survey"]
    search_fields = ["organisation__name"]
    raw_id_fields = ["organisation"]
    filter_horizontal = ["contacts"]
    readonly_fields = ["public_id", "personal_link", "first_opened_at", "created_at"]
    exclude = ["token_nonce", "token_hash"]
    actions = ["resend_invitation", "show_personal_link_once"]

    @admin.display(description="Personal link")
    def personal_link(self, invitation: Invitation) -> str:
        return (
            "Not shown: it opens this organisation's answers. An Admin can resend the "
            "invitation or show the link once with the actions of the invitation list."
        )

    def has_identified_permission(self, request: HttpRequest) -> bool:
        """The actions that reach an organisation's personal link are for Admins only."""
        return user_has_role(request.user, ADMIN)

    @admin.action(
        description="Resend the invitation email to the selected organisations",
        permissions=["identified"],
    )
    def resend_invitation(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        now = timezone.now()
        queued, refused = 0, []
        for invitation in queryset.select_related("survey", "organisation"):
            report = invitation_resend(invitation=invitation, now=now)
            audit_log.info(
                "invitation resent: user=%s invitation=%s emails=%s refused=%s",
                request.user.pk,
                invitation.pk,
                report.queued,
                report.refused or "-",
            )
            self.log_change(request, invitation, f"Resent the invitation ({report.queued} emails)")
            queued += report.queued
            if report.refused:
                refused.append(f"{invitation.organisation}: {report.refused}")
        self.message_user(request, f"{queued} invitation email(s) queued.")
        if refused:
            self.message_user(request, "Not resent: " + "; ".join(refused), messages.WARNING)

    @admin.action(
        description="Show the personal link of the selected invitation once",
        permissions=["identified"],
    )
    def show_personal_link_once(
        self, request: HttpRequest, queryset: QuerySet[Invitation]
    ) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one invitation.", messages.ERROR)
            return None
        invitation = queryset.select_related("survey", "organisation").get()
        audit_log.info(
            "personal link shown: user=%s invitation=%s at=%s",
            request.user.pk,
            invitation.pk,
            timezone.now().isoformat(),
        )
        self.log_change(request, invitation, "Showed the personal link")
        response = TemplateResponse(
            request,
            "admin/surveys/invitation/personal_link.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "Personal link",
                "invitation": invitation,
                "link": invitation_link(invitation),
            },
        )
        response["Cache-Control"] = "no-store"
        response["Referrer-Policy"] = "no-referrer"
        return response

    def save_model(
        self, request: HttpRequest, obj: Invitation, form: forms.ModelForm, change: bool
    ) -> None:
        if not obj.pk:
            for name, value in new_token_fields().items():
                setattr(obj, name, value)
            obj.created_at = timezone.now()
        super().save_model(request, obj, form, change)
