"""Staff edit surveys, their invitations and responses here. Changes that would orphan answers are
refused: answers restrict deleting their question and choice rows (on_delete=RESTRICT), and
changing the type of a question that has answers is a form error."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from surveys.models import (
    Choice,
    MatrixStatement,
    Page,
    Question,
    Response,
    Survey,
)
from surveys.questionnaire.survey_files import FINDING_KEY, finding_hint_errors
from surveys.questionnaire.types import QUESTION_TYPES


class PageInline(admin.TabularInline):
    model = Page
    extra = 0
    fields = ["order", "title", "introduction"]
    show_change_link = True


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "slug",
        "status",
        "opens_at",
        "closes_at",
        "preview_link",
        "statistics_link",
    ]
    list_filter = ["status"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    inlines = [PageInline]
    # A privacy notice typed without a scheme is an https address (Django 6's default).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="Preview")
    def preview_link(self, survey: Survey) -> str:
        url = reverse("surveys:preview", kwargs={"slug": survey.slug})
        return format_html('<a href="{}">Preview as a respondent</a>', url)

    @admin.display(description="Results")
    def statistics_link(self, survey: Survey) -> str:
        return format_html(
            '<a href="{}">Statistics</a> · <a href="{}">Report</a> · <a href="{}">Exports</a>',
            reverse("surveys:dashboard", args=[survey.slug]),
            reverse("surveys:survey_report", args=[survey.slug]),
            reverse("surveys:surveys_exports", args=[survey.slug]),
        )


def _allows_exclusive_choices(code: str) -> bool:
    # The form may hold a question whose type is not chosen yet.
    kind = QUESTION_TYPES.get(code)
    return kind is not None and kind.allows_exclusive_choices


class ChoiceForm(forms.ModelForm):
    class Meta:
        model = Choice
        fields = ["order", "value", "label", "is_other", "is_exclusive"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        # The inline formset's foreign key field gives the question being saved, with its new
        # type if that changes in the same form.
        question = cleaned.get("question") or getattr(self.instance, "question", None)
        if (
            cleaned.get("is_exclusive")
            and question is not None
            and not _allows_exclusive_choices(question.type)
        ):
            self.add_error("is_exclusive", "Only choices of a multiple choice can be exclusive.")
        return cleaned


class ChoiceInline(admin.TabularInline):
    model = Choice
    form = ChoiceForm
    extra = 0
    fields = ["order", "value", "label", "is_other", "is_exclusive"]


class StatementInline(admin.TabularInline):
    model = MatrixStatement
    extra = 0
    fields = ["order", "value", "text"]


class QuestionInline(admin.StackedInline):
    model = Question
    extra = 0
    fields = ["order", "code", "type", "text", "required"]
    show_change_link = True

    def get_formset(
        self, request: HttpRequest, obj: Page | None = None, **kwargs: Any
    ) -> type[BaseInlineFormSet]:
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = QuestionForm
        return formset


@admin.register(Page)
class PageAdmin(admin.ModelAdmin):
    list_display = ["title", "survey", "order"]
    list_filter = ["survey"]
    inlines = [QuestionInline]

    def save_formset(
        self,
        request: HttpRequest,
        form: forms.ModelForm,
        formset: BaseInlineFormSet,
        change: bool,
    ) -> None:
        # New questions take the page's survey, which the database needs for code uniqueness.
        for inline_form in formset.forms:
            if isinstance(inline_form.instance, Question) and not inline_form.instance.survey_id:
                inline_form.instance.survey_id = form.instance.survey_id
        super().save_formset(request, form, formset, change)


class QuestionForm(forms.ModelForm):
    class Meta:
        model = Question
        fields = [
            "survey",
            "page",
            "code",
            "type",
            "text",
            "help_text",
            "required",
            "order",
            "options",
            "condition_question",
            "condition_values",
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        question = self.instance
        if question.pk and "type" in self.changed_data and question.answers.exists():
            self.add_error(
                "type",
                "This question already has answers: its type cannot change. "
                "Add a new question instead.",
            )
        page = cleaned.get("page")
        survey = cleaned.get("survey") or (page.survey if page else None)
        if page and survey and page.survey_id != survey.pk:
            self.add_error("page", "The page belongs to another survey.")
        self._check_finding_hint(cleaned)
        return cleaned

    def _check_finding_hint(self, cleaned: dict) -> None:
        """The report's finding hint (options["finding"]), as the survey file import checks it;
        choice values are checked against the saved choices (none yet for a new question)."""
        options = cleaned.get("options")
        kind = cleaned.get("type")
        if not isinstance(options, dict) or FINDING_KEY not in options or not kind:
            return
        question = self.instance
        values = set(question.choices.values_list("value", flat=True)) if question.pk else None
        for path, message in finding_hint_errors(
            hint=options[FINDING_KEY],
            question_type=kind,
            choice_values=values,
            code=cleaned.get("code") or "",
        ):
            self.add_error("options", f"{FINDING_KEY}{path}: {message}")


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    form = QuestionForm
    list_display = ["code", "text", "type", "page", "survey", "required"]
    list_filter = ["survey", "type"]
    search_fields = ["code", "text"]
    inlines = [ChoiceInline, StatementInline]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["invitation", "started_at", "last_saved_at", "submitted_at", "current_page"]
    list_filter = ["survey", ("submitted_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["invitation", "survey", "started_at", "last_saved_at", "submitted_at"]
