"""Admin screens for outreach: email templates (validated placeholders, preview, test send) and
waves (preview of recipients and email, confirmed send, remind now, live progress, pause and
resume)."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django_countries import countries

from accounts.models import User
from accounts.roles import ADMIN, user_has_role
from surveys.models import (
    Contact,
    Delivery,
    EmailTemplate,
    Sector,
    Wave,
)
from surveys.outreach.emails import PLACEHOLDERS, placeholders_unknown
from surveys.outreach.previews import (
    TestEmailError,
    example_email,
    example_invitation,
    rendered_preview,
    wave_email_html,
    wave_invitation_preview,
    wave_reminder_previews,
    wave_test_email_send,
)
from surveys.outreach.reminders import wave_remind_now, wave_reminder_recipients
from surveys.outreach.selectors import wave_live_progress, wave_progress
from surveys.outreach.waves import (
    WaveError,
    organisations_matching,
    wave_filters_clean,
    wave_launch,
    wave_pause_by_hand,
    wave_resume,
)

# The policy of an example email's HTML in the confirm pages' frame (WaveAdmin.email_html_view).
EMAIL_FRAME_POLICY = {
    "default-src": ["'none'"],
    "style-src": ["'unsafe-inline'"],
    "img-src": ["'self'", "data:", "https:"],
    "script-src": ["'none'"],
    "form-action": ["'none'"],
    "frame-ancestors": ["'self'"],
    "sandbox": True,
}


def _email_frame_response(html: str) -> HttpResponse:
    """An example email's HTML for a sandboxed frame of our own pages: the email's inline
    styles need a policy of their own (EMAIL_FRAME_POLICY), framed by our own pages only."""
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response._csp_replace = EMAIL_FRAME_POLICY  # type: ignore[attr-defined]  # read by django-csp's middleware
    response["X-Frame-Options"] = "SAMEORIGIN"
    return response


PLACEHOLDER_HELP = "Placeholders: " + ", ".join(
    f"{{{{ {name} }}}} ({meaning})" for name, meaning in PLACEHOLDERS.items()
)


class EmailTemplateForm(forms.ModelForm):
    class Meta:
        model = EmailTemplate
        fields = ["survey", "name", "kind", "subject", "text_body", "html_body"]
        help_texts = {"text_body": PLACEHOLDER_HELP}

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        for field in ("subject", "text_body", "html_body"):
            unknown = placeholders_unknown(cleaned.get(field) or "")
            if unknown:
                self.add_error(
                    field,
                    "Unknown placeholder(s): "
                    + ", ".join(f"{{{{ {name} }}}}" for name in unknown)
                    + f". {PLACEHOLDER_HELP}.",
                )
        return cleaned


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    form = EmailTemplateForm
    list_display = ["name", "survey", "kind", "updated_at"]
    list_filter = ["survey", "kind"]
    readonly_fields = ["preview"]
    actions = ["send_test_to_myself"]

    @admin.display(description="Preview (links open the staff preview of the survey)")
    def preview(self, template: EmailTemplate) -> str:
        """The saved template's email as the wave's confirm pages show one: headers, the HTML
        part in a sandboxed frame (email_html_view) and the text part."""
        if not template.pk:
            return "Save to see a preview."
        return render_to_string(
            "admin/surveys/_email_parts.html",
            {
                "email": self._rendered(template),
                "frame_url": reverse("admin:surveys_emailtemplate_email_html", args=[template.pk]),
                "label": template.name,
            },
        )

    def _rendered(self, template: EmailTemplate) -> dict[str, str]:
        return rendered_preview(
            invitation=example_invitation(survey=template.survey),
            kind=template.kind,
            template=template,
        )

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:template_id>/email/",
                view(self.email_html_view),
                name="surveys_emailtemplate_email_html",
            ),
            *super().get_urls(),
        ]

    def email_html_view(self, request: HttpRequest, template_id: int) -> HttpResponse:
        """The HTML part of the template's example email, for the sandboxed frame of its admin
        page, under the confirm pages' own policy (EMAIL_FRAME_POLICY)."""
        template = get_object_or_404(EmailTemplate.objects.select_related("survey"), pk=template_id)
        if not self.has_view_or_change_permission(request, template):
            raise PermissionDenied
        return _email_frame_response(self._rendered(template)["html"])

    @admin.action(description="Send a test of the selected templates to my own address")
    def send_test_to_myself(self, request: HttpRequest, queryset: QuerySet[EmailTemplate]) -> None:
        user = request.user
        assert isinstance(user, User)  # the admin site lets logged-in staff in only
        if not user.email:
            self.message_user(
                request, "Your account has no email address: add one first.", messages.ERROR
            )
            return
        for template in queryset.select_related("survey"):
            invitation = example_invitation(survey=template.survey)
            me = Contact(name=user.get_full_name() or user.username, email=user.email)
            example_email(
                invitation=invitation, contact=me, kind=template.kind, template=template
            ).send()
        self.message_user(request, f"Sent {queryset.count()} test email(s) to {user.email}.")


class WaveForm(forms.ModelForm):
    countries = forms.MultipleChoiceField(
        choices=list(countries), required=False, help_text="None chosen: every country."
    )
    cosme = forms.ChoiceField(
        choices=[("", "Any"), ("yes", "COSME countries only"), ("no", "Non-COSME only")],
        required=False,
        label="COSME",
    )
    sectors = forms.ModelMultipleChoiceField(queryset=Sector.objects.all(), required=False)
    not_yet_invited = forms.BooleanField(required=False, label="Not yet invited to this survey")
    not_responded = forms.BooleanField(required=False, label="Has not completed this survey")

    class Meta:
        model = Wave
        fields = ["survey", "name", "template", "scheduled_at"]
        help_texts = {"scheduled_at": "Empty: send when you confirm on the next page."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        filters = self.instance.filters or {}
        self.initial.setdefault("countries", filters.get("countries", []))
        if "is_cosme" in filters:
            self.initial.setdefault("cosme", "yes" if filters["is_cosme"] else "no")
        self.initial.setdefault("not_yet_invited", filters.get("not_yet_invited", False))
        self.initial.setdefault("not_responded", filters.get("not_responded", False))
        # Absent once the wave is launched: the admin shows it read-only (get_readonly_fields).
        template_field = self.fields.get("template")
        if isinstance(template_field, forms.ModelChoiceField):
            template_field.queryset = EmailTemplate.objects.filter(
                kind=EmailTemplate.Kind.INVITATION
            )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        template, survey = cleaned.get("template"), cleaned.get("survey")
        if template and survey and template.survey_id != survey.pk:
            self.add_error("template", "Choose a template of the same survey.")
        filters: dict[str, Any] = {
            "countries": cleaned.get("countries") or [],
            "sectors": [s.name for s in cleaned.get("sectors") or []],
            "not_yet_invited": cleaned.get("not_yet_invited"),
            "not_responded": cleaned.get("not_responded"),
        }
        if cleaned.get("cosme"):
            filters["is_cosme"] = cleaned["cosme"] == "yes"
        self.instance.filters = wave_filters_clean(filters)
        return cleaned


@admin.register(Wave)
class WaveAdmin(admin.ModelAdmin):
    form = WaveForm
    list_display = ["name", "survey", "status", "scheduled_at", "launched_at", "progress_summary"]
    list_filter = ["survey", "status"]
    readonly_fields = ["status", "launched_at", "created_by", "recipients_preview"]
    change_form_template = "admin/surveys/wave/change_form.html"

    def get_readonly_fields(
        self, request: HttpRequest, obj: Wave | None = None
    ) -> list[str] | tuple[str, ...]:
        if obj and obj.status == Wave.Status.LAUNCHED:
            return [*self.readonly_fields, "survey", "name", "template", "scheduled_at"]
        return self.readonly_fields

    def save_model(
        self, request: HttpRequest, obj: Wave, form: forms.ModelForm, change: bool
    ) -> None:
        if not change:
            assert isinstance(request.user, User)  # the admin site lets logged-in staff in only
            obj.created_by = request.user
        if obj.status != Wave.Status.LAUNCHED:
            obj.status = Wave.Status.SCHEDULED if obj.scheduled_at else Wave.Status.DRAFT
        super().save_model(request, obj, form, change)

    @admin.display(description="Progress")
    def progress_summary(self, wave: Wave) -> str:
        progress = wave_progress(wave=wave)
        return (
            f"{progress['sent']} sent, {progress['queued'] + progress['sending']} queued, "
            f"{progress['failed']} failed, {progress['bounced']} bounced; "
            f"{progress['opened']} opened, {progress['started']} started, "
            f"{progress['completed']} completed"
        )

    @admin.display(description="Recipients")
    def recipients_preview(self, wave: Wave) -> str:
        if not wave.pk:
            return "Save the wave to preview its recipients and email."
        matching = organisations_matching(survey=wave.survey, filters=wave.filters)
        names = ", ".join(o.name for o in matching[:20])
        total = matching.count()
        return f"{total} organisations" + (
            f": {names}" + (", …" if total > 20 else "") if total else ""
        )

    def get_urls(self) -> list[URLPattern]:
        urls = super().get_urls()
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/send/", view(self.send_view), name="surveys_wave_send"),
            path("<int:pk>/remind/", view(self.remind_view), name="surveys_wave_remind"),
            path("<int:pk>/progress/", view(self.progress_view), name="surveys_wave_progress"),
            path(
                "<int:pk>/email/<str:kind>/",
                view(self.email_html_view),
                name="surveys_wave_email_html",
            ),
            path(
                "<int:pk>/email/<str:kind>/test/",
                view(self.email_test_view),
                name="surveys_wave_email_test",
            ),
            path("<int:pk>/pause/", view(self.pause_view), name="surveys_wave_pause"),
            path("<int:pk>/resume/", view(self.resume_view), name="surveys_wave_resume"),
            *urls,
        ]

    def _wave(self, request: HttpRequest, pk: int) -> Wave:
        wave = get_object_or_404(Wave.objects.select_related("survey", "template"), pk=pk)
        if not self.has_change_permission(request, wave):
            raise PermissionDenied
        return wave

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = extra_context or {}
        wave = Wave.objects.filter(pk=object_id).select_related("survey", "template").first()
        if wave is not None:
            matching = organisations_matching(survey=wave.survey, filters=wave.filters)
            first = matching.first()
            email = None
            if first is not None:
                email = rendered_preview(
                    invitation=example_invitation(survey=wave.survey, organisation=first),
                    kind=EmailTemplate.Kind.INVITATION,
                    template=wave.template,
                )
            extra_context.update(
                wave=wave,
                progress=wave_live_progress(wave=wave, now=timezone.now()),
                recipient_count=matching.count(),
                email_preview=email,
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def send_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Confirm, then launch: the count and the first recipients are shown before anything
        is sent. Launching twice is harmless (the service is idempotent)."""
        wave = self._wave(request, pk)
        change_url = reverse("admin:surveys_wave_change", args=[wave.pk])
        if request.method == "POST":
            try:
                with transaction.atomic():
                    report = wave_launch(wave=wave, now=timezone.now())
            except WaveError as error:
                self.message_user(request, str(error), messages.ERROR)
                return HttpResponseRedirect(change_url)
            if report.already_launched:
                self.message_user(request, "This wave was already sent.", messages.WARNING)
            else:
                self.message_user(
                    request, f"Wave {wave.name!r}: {report.deliveries_queued} emails queued."
                )
            return HttpResponseRedirect(change_url)
        matching = organisations_matching(survey=wave.survey, filters=wave.filters)
        return TemplateResponse(
            request,
            "admin/surveys/wave/confirm.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "wave": wave,
                "title": f"Send the wave {wave.name!r}?",
                "action": "send",
                "count": matching.count(),
                "recipients": matching[:50],
                "change_url": change_url,
                "previews": [wave_invitation_preview(wave=wave)],
                "scheduled_at": wave.scheduled_at,
            },
        )

    def remind_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        wave = self._wave(request, pk)
        change_url = reverse("admin:surveys_wave_change", args=[wave.pk])
        now = timezone.now()
        if request.method == "POST":
            created = wave_remind_now(wave=wave, now=now)
            self.message_user(request, f"{created} reminder emails queued.")
            return HttpResponseRedirect(change_url)
        recipients = wave_reminder_recipients(wave=wave, now=now)
        # Who is reminded has not answered: for Admins only (docs/glossary.md, Roles).
        identified = user_has_role(request.user, ADMIN)
        return TemplateResponse(
            request,
            "admin/surveys/wave/confirm.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "wave": wave,
                "title": f"Remind the wave {wave.name!r} now?",
                "action": "remind",
                "count": recipients.count(),
                "recipients": [i.organisation for i in recipients[:50]] if identified else [],
                "recipients_withheld": not identified,
                "change_url": change_url,
                "previews": wave_reminder_previews(wave=wave, now=now, identified=identified),
            },
        )

    def _email_kind(self, kind: str) -> str:
        """The kinds of email a wave sends: its invitation, and the reminders once launched."""
        if kind not in EmailTemplate.Kind.values:
            raise Http404("No such email.")
        return kind

    def email_html_view(self, request: HttpRequest, pk: int, kind: str) -> HttpResponse:
        """The HTML part of the confirm page's example email, shown in a sandboxed frame of
        that page. The email's own inline styles need a policy of their own: styles inline,
        nothing else (no script, no plugin, no form), framed by our own pages only."""
        wave = self._wave(request, pk)
        return _email_frame_response(
            wave_email_html(
                wave=wave,
                kind=self._email_kind(kind),
                now=timezone.now(),
                identified=user_has_role(request.user, ADMIN),
            )
        )

    def email_test_view(self, request: HttpRequest, pk: int, kind: str) -> HttpResponse:
        """POST: the example email of that kind to the staff member's own address."""
        wave = self._wave(request, pk)
        kind = self._email_kind(kind)
        back = reverse(
            "admin:surveys_wave_send"
            if kind == EmailTemplate.Kind.INVITATION
            else "admin:surveys_wave_remind",
            args=[wave.pk],
        )
        if request.method != "POST":
            return HttpResponseRedirect(back)
        user = request.user
        assert isinstance(user, User)  # the admin site lets logged-in staff in only
        try:
            subject = wave_test_email_send(
                wave=wave,
                kind=kind,
                name=user.get_full_name() or user.username,
                address=user.email,
                now=timezone.now(),
                identified=user_has_role(request.user, ADMIN),
            )
        except TestEmailError as error:
            self.message_user(request, str(error), messages.ERROR)
        else:
            self.message_user(
                request,
                f"Test email “{subject}” sent to {user.email}, with example links (the "
                "staff preview instead of a personal link).",
            )
        return HttpResponseRedirect(back)

    def progress_view(self, request: HttpRequest, pk: int) -> JsonResponse:
        """Polled by the change page every few seconds (the live progress)."""
        wave = self._wave(request, pk)
        return JsonResponse(dict(wave_live_progress(wave=wave, now=timezone.now())))

    def pause_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Pause sending (a POST from the wave's page): nothing more goes out until resumed."""
        wave = self._wave(request, pk)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        user = request.user
        assert isinstance(user, User)  # the admin site lets logged-in staff in only
        try:
            paused = wave_pause_by_hand(wave=wave, now=timezone.now(), by=user)
        except WaveError as error:
            self.message_user(request, str(error), messages.ERROR)
        else:
            if paused:
                self.message_user(
                    request,
                    f"Wave {wave.name!r} paused: emails being sent finish, nothing more goes "
                    "out until you resume it.",
                )
            else:
                self.message_user(request, "This wave was paused already.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:surveys_wave_change", args=[wave.pk]))

    def resume_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Resume a paused wave (a POST from the wave's page)."""
        wave = self._wave(request, pk)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        queued = wave_resume(wave=wave, now=timezone.now())
        if wave.paused_at is None:
            self.message_user(request, "This wave was not paused.", messages.WARNING)
        else:
            self.message_user(request, f"Wave {wave.name!r} resumed: {queued} emails queued again.")
        return HttpResponseRedirect(reverse("admin:surveys_wave_change", args=[wave.pk]))


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["contact", "kind", "reminder_number", "status", "attempts", "sent_at", "wave"]
    list_filter = ["status", "kind", "wave__survey", "wave"]
    search_fields = ["contact__email", "invitation__organisation__name"]
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
