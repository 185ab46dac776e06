"""Surveys as files (YAML or JSON): validate, import, export.

The file format (README, "Survey files"):

    slug: eccp-2019
    title: ...
    introduction: ...            # optional
    opens_at: 2019-05-14T08:00:00+00:00
    closes_at: 2019-07-01T22:00:00+00:00
    status: closed               # draft | open | closed (default draft)
    allow_edit_after_submit: false
    contact_name: ECCP team      # optional: shown at the foot of every respondent page,
    contact_email: team@example.org              # with the privacy notice link
    privacy_notice_url: https://example.org/privacy
    sender_name: ECCP Secretariat  # optional: the name the survey's emails come from
    pages:
      - title: The organisation
        introduction: ...        # optional
        questions:
          - code: experience     # letters, digits, underscores; starts with a letter; <= 64
            type: single_choice  # see surveys.questionnaire.types
            text: ...
            help_text: ...       # optional
            required: true       # default false
            options: {widget: radio}          # type-specific, optional
            choices: [{value: 1, label: ..., other: false, exclusive: false}, ...]
            statements: [{value: 1, text: ...}, ...]        # matrix only
            show_if: {question: other_code, values: [1]}    # an earlier question
            finding: {choices: [1, 2], text: use the platform every week}   # optional

`exclusive: true` marks a multiple-choice option ("None of these") that cannot be ticked with
another. `finding` is a hint for the report (surveys.results.report): the share of the
question's base who chose any of those choice values, written as a sentence before `text`. It is
stored in `Question.options["finding"]` (a report setting, not a form one, hence its own key in
the file).

Validation collects every error with its path (`pages[2].questions[4].choices: required`) and
nothing is written unless the whole file is valid.
"""

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.utils.dateparse import parse_datetime

from surveys.models import (
    QUESTION_CODE_PATTERN,
    Choice,
    MatrixStatement,
    Page,
    Question,
    Survey,
)
from surveys.questionnaire.types import QUESTION_TYPES, question_type
from surveys.questionnaire.types.base import QuestionKind

CODE_RE = re.compile(QUESTION_CODE_PATTERN)
SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]{1,100}$")
FINDING_KEY = "finding"
FINDING_TEXT_MAX_LENGTH = 300
CHOICE_KEYS = {"value", "label", "other", "exclusive"}


class SurveyFileError(Exception):
    """The file is not a valid survey; `errors` lists "path: message" strings."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class SurveyStructureChanged(SurveyFileError):
    """A wording edit (survey_reword) that changes the structure; `paths` name each change."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(
            [
                f"{path}: only wording may change in a survey in use (texts, help texts, "
                "labels), not its structure"
                for path in paths
            ]
        )
        self.paths = paths


@dataclass
class _Checker:
    errors: list[str]

    def add(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def mapping(self, value: Any, path: str) -> dict:
        if not isinstance(value, dict):
            self.add(path, "must be a mapping")
            return {}
        return value

    def items(self, value: Any, path: str, *, required: bool = True) -> list:
        if value is None:
            if required:
                self.add(path, "required")
            return []
        if not isinstance(value, list):
            self.add(path, "must be a list")
            return []
        if required and not value:
            self.add(path, "must not be empty")
        return value

    def text(
        self, data: dict, key: str, path: str, *, required: bool = True, max_length: int = 0
    ) -> str:
        value = data.get(key)
        if value is None or value == "":
            if required:
                self.add(f"{path}.{key}", "required")
            return ""
        if not isinstance(value, str):
            self.add(f"{path}.{key}", "must be text")
            return ""
        if max_length and len(value) > max_length:
            self.add(f"{path}.{key}", f"at most {max_length} characters")
        return value

    def boolean(self, data: dict, key: str, path: str, default: bool = False) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.add(f"{path}.{key}", "must be true or false")
            return default
        return value

    def moment(self, data: dict, key: str, path: str) -> datetime | None:
        value = data.get(key)
        if value is None:
            self.add(f"{path}.{key}", "required")
            return None
        parsed: datetime | None
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, str):
            try:
                parsed = parse_datetime(value)
            except ValueError:
                parsed = None
        else:
            parsed = None
        if parsed is None:
            self.add(f"{path}.{key}", "must be a date and time like 2019-05-14T08:00:00+00:00")
            return None
        if parsed.tzinfo is None:
            self.add(f"{path}.{key}", "must include a time zone offset (e.g. +00:00)")
            return None
        return parsed

    def unknown_keys(self, data: dict, allowed: Iterable[str], path: str) -> None:
        for key in data:
            if key not in allowed:
                self.add(f"{path}.{key}", "unknown field")


SURVEY_KEYS = {
    "slug",
    "title",
    "introduction",
    "opens_at",
    "closes_at",
    "status",
    "allow_edit_after_submit",
    "contact_name",
    "contact_email",
    "privacy_notice_url",
    "sender_name",
    "pages",
}
PAGE_KEYS = {"title", "introduction", "questions"}
QUESTION_KEYS = {
    "code",
    "type",
    "text",
    "help_text",
    "required",
    "options",
    "choices",
    "statements",
    "show_if",
    FINDING_KEY,
}


def _check_field(
    check: _Checker, data: dict, key: str, validator: Callable[[str], None], message: str
) -> None:
    """An optional text field that must pass a Django validator."""
    value = check.text(data, key, "survey", required=False, max_length=500)
    if not value:
        return
    try:
        validator(value)
    except ValidationError:
        check.add(f"survey.{key}", message)


def survey_file_parse(content: str | bytes, *, name: str = "") -> dict:
    """Parse YAML or JSON (JSON is YAML) into a mapping; SurveyFileError if unreadable."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError:
            raise SurveyFileError(["file: not UTF-8 text"]) from None
    try:
        data = json.loads(content) if name.endswith(".json") else yaml.safe_load(content)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise SurveyFileError(
            [f"file: not valid {'JSON' if name.endswith('.json') else 'YAML'} ({error})"]
        ) from None
    if not isinstance(data, dict):
        raise SurveyFileError(["file: must be a mapping with slug, title, pages, ..."])
    return data


def survey_file_validate(data: dict) -> list[str]:
    """Every problem of a survey definition, each prefixed with its path."""
    check = _Checker(errors=[])
    check.unknown_keys(data, SURVEY_KEYS, "survey")
    slug = check.text(data, "slug", "survey")
    if slug and not SLUG_RE.match(slug):
        check.add("survey.slug", "use letters, digits, hyphens and underscores (at most 100)")
    check.text(data, "title", "survey", max_length=300)
    check.text(data, "introduction", "survey", required=False)
    opens_at = check.moment(data, "opens_at", "survey")
    closes_at = check.moment(data, "closes_at", "survey")
    if opens_at and closes_at and closes_at <= opens_at:
        check.add("survey.closes_at", "must be after opens_at")
    status = data.get("status", Survey.Status.DRAFT)
    if status not in Survey.Status.values:
        check.add("survey.status", f"must be one of {', '.join(Survey.Status.values)}")
    check.boolean(data, "allow_edit_after_submit", "survey")
    check.text(data, "contact_name", "survey", required=False, max_length=200)
    sender = check.text(data, "sender_name", "survey", required=False, max_length=100)
    if "\n" in sender or "\r" in sender:
        check.add("survey.sender_name", "must be one line (it is the name in the From header)")
    _check_field(check, data, "contact_email", EmailValidator(), "must be an email address")
    _check_field(
        check,
        data,
        "privacy_notice_url",
        URLValidator(schemes=["https", "http"]),
        "must be a web address (https://...)",
    )

    seen_codes: dict[str, str] = {}  # code -> type, in order of appearance
    choice_values: dict[str, set[int]] = {}
    for p, page in enumerate(check.items(data.get("pages"), "pages")):
        page_path = f"pages[{p}]"
        page = check.mapping(page, page_path)
        check.unknown_keys(page, PAGE_KEYS, page_path)
        check.text(page, "title", page_path, max_length=300)
        check.text(page, "introduction", page_path, required=False)
        for q, question in enumerate(check.items(page.get("questions"), f"{page_path}.questions")):
            path = f"{page_path}.questions[{q}]"
            question = check.mapping(question, path)
            _validate_question(check, question, path, seen_codes, choice_values)
    return check.errors


def _validate_question(
    check: _Checker,
    question: dict,
    path: str,
    seen_codes: dict[str, str],
    choice_values: dict[str, set[int]],
) -> None:
    check.unknown_keys(question, QUESTION_KEYS, path)
    code = _check_code(check, question, path, seen_codes)
    kind = question.get("type")
    if kind not in QUESTION_TYPES:
        check.add(f"{path}.type", f"must be one of {', '.join(QUESTION_TYPES)}")
        kind = None
    described = question_type(kind) if kind else None
    check.text(question, "text", path)
    check.text(question, "help_text", path, required=False)
    check.boolean(question, "required", path)

    options = check.mapping(question.get("options") or {}, f"{path}.options")
    values: set[int] = set()
    if described is not None:
        _check_options(check, options, described, path)
        values = _check_choices(check, question, described, code, path)
        _check_statements(check, question, described, path)
        described.check_file_options(options=options, choice_values=values, path=path, check=check)
    elif question.get("statements"):
        check.add(f"{path}.statements", "only matrix questions have statements")

    if question.get("show_if") is not None:
        _check_show_if(check, question["show_if"], path, seen_codes, choice_values)
    if FINDING_KEY in question and kind:
        for key, message in finding_hint_errors(
            hint=question[FINDING_KEY], question_type=kind, choice_values=values, code=code
        ):
            check.add(f"{path}.{FINDING_KEY}{key}", message)
    if code and code not in seen_codes:
        seen_codes[code] = kind or ""
        choice_values[code] = values


def _check_code(check: _Checker, question: dict, path: str, seen_codes: dict[str, str]) -> str:
    code = check.text(question, "code", path)
    if code:
        if not CODE_RE.match(code):
            check.add(
                f"{path}.code",
                "letters, digits and underscores, starting with a letter, at most 64",
            )
        elif code in seen_codes:
            check.add(f"{path}.code", f"duplicate code {code!r}")
    return code


def _check_options(check: _Checker, options: dict, described: QuestionKind, path: str) -> None:
    allowed = described.options
    for key, value in options.items():
        if key == FINDING_KEY:
            check.add(f"{path}.options.{key}", "write finding: beside options, not inside")
        elif key not in allowed:
            check.add(f"{path}.options.{key}", f"not an option of {described.code}")
        elif (isinstance(value, bool) and allowed[key] is not bool) or not isinstance(
            value, allowed[key]
        ):
            check.add(f"{path}.options.{key}", "wrong type")


def _check_choices(
    check: _Checker, question: dict, described: QuestionKind, code: str, path: str
) -> set[int]:
    """The question's choices checked; their values (a yes/no's default ones if it lists none)."""
    values: set[int] = set()
    choices = question.get("choices")
    if not (described.needs_choices or (described.default_choices and choices is not None)):
        if choices:
            check.add(f"{path}.choices", f"{described.code} questions have no choices")
        if described.default_choices and choices is None:
            values = {c["value"] for c in described.default_choices}
        return values
    for c, choice in enumerate(check.items(choices, f"{path}.choices")):
        choice_path = f"{path}.choices[{c}]"
        choice = check.mapping(choice, choice_path)
        check.unknown_keys(choice, CHOICE_KEYS, choice_path)
        value = choice.get("value")
        if not isinstance(value, int) or isinstance(value, bool):
            check.add(f"{choice_path}.value", "required, an integer")
        elif value in values:
            check.add(f"{choice_path}.value", f"duplicate value {value}")
        else:
            values.add(value)
        check.text(choice, "label", choice_path, max_length=300)
        check.boolean(choice, "other", choice_path)
        exclusive = check.boolean(choice, "exclusive", choice_path)
        if exclusive and not described.allows_exclusive_choices:
            check.add(
                f"{choice_path}.exclusive",
                f"only choices of multiple_choice questions can be exclusive "
                f"({repr(code) if code else 'this question'} is {described.code})",
            )
    return values


def _check_statements(check: _Checker, question: dict, described: QuestionKind, path: str) -> None:
    if not described.has_statements:
        if question.get("statements"):
            check.add(f"{path}.statements", "only matrix questions have statements")
        return
    statement_values: set[int] = set()
    for s, statement in enumerate(check.items(question.get("statements"), f"{path}.statements")):
        statement_path = f"{path}.statements[{s}]"
        statement = check.mapping(statement, statement_path)
        value = statement.get("value")
        if not isinstance(value, int) or isinstance(value, bool) or value in statement_values:
            check.add(f"{statement_path}.value", "required, an integer unique in the question")
        else:
            statement_values.add(value)
        check.text(statement, "text", statement_path, max_length=500)


def _check_show_if(
    check: _Checker,
    show_if: Any,
    path: str,
    seen_codes: dict[str, str],
    choice_values: dict[str, set[int]],
) -> None:
    show_if = check.mapping(show_if, f"{path}.show_if")
    target = show_if.get("question")
    wanted = show_if.get("values")
    if target not in seen_codes:
        check.add(f"{path}.show_if.question", "must name an earlier question")
    elif not _can_be_condition(seen_codes[target]):
        check.add(f"{path}.show_if.question", "must be a choice or yes/no question")
    if not isinstance(wanted, list) or not wanted or not all(isinstance(v, int) for v in wanted):
        check.add(f"{path}.show_if.values", "required, a list of choice values")
    elif target in choice_values and not set(wanted) <= choice_values[target]:
        check.add(f"{path}.show_if.values", f"not values of {target}")


def _can_be_condition(code: str) -> bool:
    return code in QUESTION_TYPES and QUESTION_TYPES[code].can_be_condition


def finding_hint_errors(
    *, hint: Any, question_type: str, choice_values: set[int] | None, code: str = ""
) -> list[tuple[str, str]]:
    """What is wrong with a question's finding hint, as (path under `finding`, message) pairs;
    empty when it is usable. choice_values: the question's choice values, or None when they are
    not known yet (a question being created in the admin) to skip that check. Messages name the
    question, since the admin and the import both show them away from the question itself."""
    name = repr(code) if code else "this question"
    if question_type not in QUESTION_TYPES or not QUESTION_TYPES[question_type].allows_finding:
        finding_types = sorted(code for code, kind in QUESTION_TYPES.items() if kind.allows_finding)
        return [
            (
                "",
                f"{name} is a {question_type} question: a finding hint needs a question with "
                f"choices ({', '.join(finding_types)})",
            )
        ]
    if not isinstance(hint, dict):
        return [("", f"must be a mapping with choices and text (question {name})")]
    errors = [(f".{key}", "unknown field") for key in hint if key not in {"choices", "text"}]
    chosen = hint.get("choices")
    if (
        not isinstance(chosen, list)
        or not chosen
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in chosen)
    ):
        errors.append((".choices", f"required, a list of choice values of {name}"))
    elif len(set(chosen)) != len(chosen):
        errors.append((".choices", f"each choice value once (question {name})"))
    elif choice_values is not None and not set(chosen) <= choice_values:
        unknown = ", ".join(str(v) for v in chosen if v not in choice_values)
        known = ", ".join(str(v) for v in sorted(choice_values))
        errors.append((".choices", f"{unknown} not a choice value of {name} (values: {known})"))
    text = hint.get("text")
    if not isinstance(text, str) or not text.strip():
        errors.append(
            (".text", f"required, the words after the share, e.g. “use it weekly” ({name})")
        )
    elif len(text) > FINDING_TEXT_MAX_LENGTH:
        errors.append((".text", f"at most {FINDING_TEXT_MAX_LENGTH} characters ({name})"))
    return errors


@transaction.atomic
def survey_import(*, data: dict, replace: bool = False) -> Survey:
    """Create a survey from a definition, all or nothing.

    With replace=True an existing survey of the same slug is replaced, provided it has no
    responses (answers must never be orphaned). Raises SurveyFileError with every problem."""
    errors = survey_file_validate(data)
    existing = Survey.objects.filter(slug=data.get("slug")).first() if not errors else None
    if existing is not None:
        if not replace:
            errors.append(f"survey.slug: a survey {existing.slug!r} exists already (use --replace)")
        elif existing.responses.exists():
            errors.append(f"survey.slug: {existing.slug!r} has responses and cannot be replaced")
    if errors:
        raise SurveyFileError(errors)
    if existing is not None:
        existing.delete()

    survey = Survey.objects.create(
        slug=data["slug"],
        title=data["title"],
        introduction=data.get("introduction") or "",
        opens_at=_as_datetime(data["opens_at"]),
        closes_at=_as_datetime(data["closes_at"]),
        status=data.get("status", Survey.Status.DRAFT),
        allow_edit_after_submit=data.get("allow_edit_after_submit", False),
        contact_name=data.get("contact_name") or "",
        contact_email=data.get("contact_email") or "",
        privacy_notice_url=data.get("privacy_notice_url") or "",
        sender_name=data.get("sender_name") or "",
    )
    by_code: dict[str, Question] = {}
    for page_order, page_data in enumerate(data["pages"], start=1):
        page = Page.objects.create(
            survey=survey,
            order=page_order,
            title=page_data["title"],
            introduction=page_data.get("introduction") or "",
        )
        for question_order, q in enumerate(page_data["questions"], start=1):
            show_if = q.get("show_if") or {}
            question = Question.objects.create(
                survey=survey,
                page=page,
                code=q["code"],
                type=q["type"],
                text=q["text"],
                help_text=q.get("help_text") or "",
                required=q.get("required", False),
                order=question_order,
                options=_options_with_finding(q),
                condition_question=by_code.get(show_if.get("question", "")),
                condition_values=show_if.get("values", []),
            )
            by_code[question.code] = question
            choices = q.get("choices") or question_type(q["type"]).default_choices
            Choice.objects.bulk_create(
                Choice(
                    question=question,
                    value=c["value"],
                    label=c["label"],
                    order=i,
                    is_other=c.get("other", False),
                    is_exclusive=c.get("exclusive", False),
                )
                for i, c in enumerate(choices or [], start=1)
            )
            MatrixStatement.objects.bulk_create(
                MatrixStatement(question=question, value=s["value"], text=s["text"], order=i)
                for i, s in enumerate(q.get("statements") or [], start=1)
            )
    return survey


def _options_with_finding(question: dict) -> dict:
    """The question's options as stored: the file's `options`, plus its finding hint (a report
    setting kept in the same JSON field, so that no column is needed for it)."""
    options = question_type(question["type"]).stored_options(dict(question.get("options") or {}))
    hint = question.get(FINDING_KEY)
    if hint is not None:
        options[FINDING_KEY] = {"choices": list(hint["choices"]), "text": hint["text"].strip()}
    return options


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else parse_datetime(value)  # type: ignore[return-value]  # survey_file_validate parsed it


def survey_export(survey: Survey) -> dict:
    """The survey's definition, in the format survey_import reads."""
    data: dict[str, Any] = {
        "slug": survey.slug,
        "title": survey.title,
        "introduction": survey.introduction,
        "opens_at": survey.opens_at.isoformat(),
        "closes_at": survey.closes_at.isoformat(),
        "status": survey.status,
        "allow_edit_after_submit": survey.allow_edit_after_submit,
        **{
            key: getattr(survey, key)
            for key in ("contact_name", "contact_email", "privacy_notice_url", "sender_name")
            if getattr(survey, key)
        },
        "pages": [],
    }
    questions = (
        Question.objects.filter(survey=survey)
        .select_related("condition_question")
        .prefetch_related("choices", "statements")
        .order_by("order", "id")
    )
    by_page: dict[int, list[Question]] = {}
    for question in questions:
        by_page.setdefault(question.page_id, []).append(question)
    for page in survey.pages.order_by("order", "id"):
        page_data: dict[str, Any] = {"title": page.title}
        if page.introduction:
            page_data["introduction"] = page.introduction
        page_data["questions"] = [_question_export(q) for q in by_page.get(page.pk, [])]
        data["pages"].append(page_data)
    if not data["introduction"]:
        del data["introduction"]
    return data


def _question_export(question: Question) -> dict:
    data: dict[str, Any] = {"code": question.code, "type": question.type, "text": question.text}
    if question.help_text:
        data["help_text"] = question.help_text
    if question.required:
        data["required"] = True
    options = dict(question.options)
    hint = options.pop(FINDING_KEY, None)
    if options:
        data["options"] = options
    choices = [
        {
            "value": c.value,
            "label": c.label,
            **({"other": True} if c.is_other else {}),
            **({"exclusive": True} if c.is_exclusive else {}),
        }
        for c in question.choices.all()
    ]
    if choices and choices != question_type(question.type).default_choices:
        data["choices"] = choices
    statements = [{"value": s.value, "text": s.text} for s in question.statements.all()]
    if statements:
        data["statements"] = statements
    if question.condition_question is not None:
        data["show_if"] = {
            "question": question.condition_question.code,
            "values": list(question.condition_values),
        }
    if hint is not None:
        data[FINDING_KEY] = hint
    return data


def survey_dump(data: dict, *, fmt: str = "yaml") -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


# Wording-only edits of a survey in use --------------------------------------------------------

# What a wording edit may change; everything else of the file is structure (codes, types, order,
# pages, required, options, choices and statements with their values, conditions, dates, status).
SURVEY_WORDING = ("title", "introduction")
PAGE_WORDING = ("title", "introduction")
QUESTION_WORDING = ("text", "help_text")


def _structure(data: dict) -> dict:
    """The definition without its wording, in one canonical form (defaults filled in, moments
    parsed), so that two files that differ only in wording, or in how they spell a default,
    compare equal."""
    pages = []
    for page in data.get("pages") or []:
        questions = []
        for q in page.get("questions") or []:
            kind = question_type(q["type"])
            options = _options_with_finding(q)
            finding = options.pop(FINDING_KEY, None)
            show_if = q.get("show_if") or {}
            questions.append(
                {
                    "code": q["code"],
                    "type": q["type"],
                    "required": bool(q.get("required", False)),
                    "options": options,
                    "choices": [
                        {
                            "value": c["value"],
                            "other": bool(c.get("other", False)),
                            "exclusive": bool(c.get("exclusive", False)),
                        }
                        for c in (q.get("choices") or kind.default_choices or [])
                    ],
                    "statements": [s["value"] for s in q.get("statements") or []],
                    "show_if": (
                        {"question": show_if["question"], "values": list(show_if["values"])}
                        if show_if
                        else None
                    ),
                    "finding": list(finding["choices"]) if finding else None,
                }
            )
        pages.append({"questions": questions})
    return {
        "slug": data.get("slug"),
        "opens_at": _as_datetime(data["opens_at"]),
        "closes_at": _as_datetime(data["closes_at"]),
        "status": data.get("status", Survey.Status.DRAFT),
        "allow_edit_after_submit": bool(data.get("allow_edit_after_submit", False)),
        **{
            key: data.get(key) or ""
            for key in ("contact_name", "contact_email", "privacy_notice_url")
        },
        "pages": pages,
    }


def _differences(old: Any, new: Any, path: str) -> Iterable[str]:
    """The paths where two canonical structures differ (a list of another length: the list)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            yield from _differences(old[key], new.get(key), f"{path}.{key}")
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (before, after) in enumerate(zip(old, new, strict=True)):
            yield from _differences(before, after, f"{path}[{index}]")
    elif old != new:
        yield path


@transaction.atomic
def survey_reword(*, survey: Survey, data: dict) -> Survey:
    """Change the wording of a survey in use: its title and introduction, its pages' titles
    and introductions, its questions' texts and help texts, its choices' labels, its matrix
    statements' texts and its finding hints' texts. The definition must be a valid survey file
    (the same validation as survey_import) whose structure is the survey's own: anything else
    raises SurveyFileError naming each structural change and nothing is written. Answers are
    kept (they refer to codes and values, which do not change)."""
    errors = survey_file_validate(data)
    if errors:
        raise SurveyFileError(errors)
    current = survey_export(survey)
    changed = sorted(
        set(_differences(_structure(current), _structure(data), "survey"))
        | set(_differences(_structure(data), _structure(current), "survey"))
    )
    if changed:
        raise SurveyStructureChanged([path.removeprefix("survey.") for path in changed])
    survey.title = data["title"]
    survey.introduction = data.get("introduction") or ""
    survey.save(update_fields=["title", "introduction"])
    questions = {
        q.code: q
        for q in Question.objects.filter(survey=survey).prefetch_related("choices", "statements")
    }
    for page, page_data in zip(survey.pages.order_by("order", "id"), data["pages"], strict=True):
        page.title = page_data["title"]
        page.introduction = page_data.get("introduction") or ""
        page.save(update_fields=["title", "introduction"])
        for q in page_data["questions"]:
            question = questions[q["code"]]
            question.text = q["text"]
            question.help_text = q.get("help_text") or ""
            hint = q.get(FINDING_KEY)
            if hint is not None:
                question.options = {
                    **question.options,
                    FINDING_KEY: {"choices": list(hint["choices"]), "text": hint["text"].strip()},
                }
            question.save(update_fields=["text", "help_text", "options"])
            labels = {c["value"]: c["label"] for c in q.get("choices") or []}
            for choice in question.choices.all():
                if choice.value in labels and choice.label != labels[choice.value]:
                    choice.label = labels[choice.value]
                    choice.save(update_fields=["label"])
            texts = {s["value"]: s["text"] for s in q.get("statements") or []}
            for statement in question.statements.all():
                if statement.value in texts and statement.text != texts[statement.value]:
                    statement.text = texts[statement.value]
                    statement.save(update_fields=["text"])
    survey.refresh_from_db()
    return survey
