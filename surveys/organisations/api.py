"""/api/v1/organisations/ and /api/v1/contacts/: list with filters, create, update, and a bulk
upsert by external_id with a report per row.

Writes go through the organisation import (surveys.organisations.importing): a JSON row is the
file's row with typed cells, planned and applied by the same code, so the same checks, matching
(external_id first, then a contact's email) and messages apply as to a CSV or XLSX file. In
messages, "row N" is the row at index N of the request's `rows`."""

from typing import Any

import django_filters
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from eccp_survey.api.errors import ApiError, ErrorSerializer
from eccp_survey.api.filters import MomentFilter
from eccp_survey.api.idempotency import idempotent
from eccp_survey.api.permissions import STAFF_ROLES
from eccp_survey.api.views import ApiListView, ApiView, input_data
from surveys.models import ClusterOrganisation, Contact
from surveys.organisations.contacts import ContactError, contact_delete, contact_update
from surveys.organisations.importing import (
    COLUMNS,
    ImportPlan,
    ImportRow,
    OrganisationImportError,
    PlannedRow,
    RowAction,
    organisations_import_apply,
    organisations_import_plan,
)

BULK_MAX_ROWS = 10_000

# Output -----------------------------------------------------------------------------------------


class ContactOutput(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "organisation", "name", "email", "language", "suppressed_at"]


class OrganisationOutput(serializers.ModelSerializer):
    country = serializers.CharField(source="country.code")
    sectors: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="name", many=True, read_only=True
    )
    contacts = ContactOutput(many=True, read_only=True)

    class Meta:
        model = ClusterOrganisation
        fields = [
            "id",
            "external_id",
            "name",
            "country",
            "is_cosme",
            "city",
            "region",
            "sectors",
            "year_founded",
            "website",
            "profile_updated_at",
            "created_at",
            "contacts",
        ]


# Input: a row of the import, with typed cells -------------------------------------------------


class OrganisationRowInput(serializers.Serializer):
    """The columns of the organisation import (README, Organisations). A missing or empty
    value never erases a stored one."""

    name = serializers.CharField(allow_blank=True, max_length=1000)
    country = serializers.CharField(
        allow_blank=True, max_length=100, help_text="ISO code or English name."
    )
    email = serializers.CharField(
        allow_blank=True, max_length=1000, help_text="A contact's email address."
    )
    contact_name = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    language = serializers.CharField(required=False, allow_blank=True, max_length=20)
    sectors = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=100
    )
    year_founded = serializers.IntegerField(required=False, allow_null=True)
    external_id = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    is_cosme = serializers.BooleanField(required=False, allow_null=True)
    city = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    region = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    website = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    profile_updated_at = serializers.DateField(required=False, allow_null=True)


class OrganisationPatchInput(OrganisationRowInput):
    name = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    country = serializers.CharField(required=False, allow_blank=True, max_length=100)
    email = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=1000,
        help_text="Adds this contact (or updates its name and language); default: the first "
        "contact.",
    )


class ContactInput(serializers.Serializer):
    email = serializers.CharField(max_length=1000)
    name = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    language = serializers.CharField(required=False, allow_blank=True, max_length=20)


class BulkUpsertInput(serializers.Serializer):
    rows = serializers.ListField(
        child=OrganisationRowInput(), max_length=BULK_MAX_ROWS, allow_empty=False
    )
    dry_run = serializers.BooleanField(
        default=False, help_text="Report what would happen; write nothing."
    )


class RowReportOutput(serializers.Serializer):
    index = serializers.IntegerField(help_text="The row's index in `rows`.")
    action = serializers.ChoiceField(choices=[a.value for a in RowAction])
    organisation_id = serializers.IntegerField(allow_null=True)
    changes = serializers.ListField(child=serializers.CharField())
    problems = serializers.ListField(child=serializers.CharField())


class BulkUpsertOutput(serializers.Serializer):
    applied = serializers.BooleanField()
    counts = serializers.DictField(child=serializers.IntegerField())
    rows = RowReportOutput(many=True)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value).strip()


def _import_row(index: int, values: dict[str, Any]) -> ImportRow:
    return ImportRow(number=index, values={column: _cell(values.get(column)) for column in COLUMNS})


def _plan(rows: list[dict[str, Any]]) -> ImportPlan:
    return organisations_import_plan(rows=[_import_row(i, row) for i, row in enumerate(rows)])


def _apply(plan: ImportPlan) -> None:
    try:
        organisations_import_apply(plan=plan)
    except OrganisationImportError as error:
        raise ApiError(str(error), code="conflict", status=409) from None


def _row_report(row: PlannedRow) -> dict[str, Any]:
    return {
        "index": row.number,
        "action": str(row.action),
        "organisation_id": row.organisation_id,
        "changes": sorted(row.changes),
        "problems": row.problems,
    }


def _refusal(row: PlannedRow) -> ApiError:
    return ApiError("; ".join(row.problems), code="invalid")


def _code(country: Any) -> str:
    """A CountryField value's ISO code."""
    return str(getattr(country, "code", country))


def _organisations() -> QuerySet[ClusterOrganisation]:
    return ClusterOrganisation.objects.prefetch_related(
        "sectors", Prefetch("contacts", queryset=Contact.objects.order_by("email"))
    )


# Views ------------------------------------------------------------------------------------------


class OrganisationFilter(django_filters.FilterSet):
    country = django_filters.CharFilter(field_name="country", lookup_expr="iexact")
    is_cosme = django_filters.BooleanFilter()
    sector = django_filters.CharFilter(field_name="sectors__name", lookup_expr="iexact")
    external_id = django_filters.CharFilter()
    name = django_filters.CharFilter(lookup_expr="icontains")
    email = django_filters.CharFilter(field_name="contacts__email", lookup_expr="iexact")
    created_since = MomentFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = ClusterOrganisation
        fields = ["country", "is_cosme", "sector", "external_id", "name", "email"]


class OrganisationList(ApiListView):
    """Organisations with their contacts and sectors (Admin and Staff: Viewers see no
    organisation, docs/glossary.md)."""

    read_roles = STAFF_ROLES
    serializer_class = OrganisationOutput
    filterset_class = OrganisationFilter
    ordering_fields = ["id", "name", "created_at", "country"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[ClusterOrganisation]:
        return _organisations().distinct()

    @extend_schema(
        summary="Create an organisation with a contact",
        request=OrganisationRowInput,
        responses={201: OrganisationOutput, 400: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        values = input_data(OrganisationRowInput, request)
        plan = _plan([values])
        row = plan.rows[0]
        if row.action == RowAction.REJECT:
            raise _refusal(row)
        if row.action != RowAction.CREATE:
            raise ApiError(
                f"Organisation {row.organisation_id} has this external_id or contact email: "
                "update it (PATCH) or use the bulk upsert.",
                code="exists",
                status=409,
            )
        _apply(plan)
        organisation = _organisations().get(pk=int(row.organisation_id or 0))
        return Response(OrganisationOutput(organisation).data, status=201)


class OrganisationDetail(ApiView):
    read_roles = STAFF_ROLES
    serializer_class = OrganisationOutput

    def get_object(self) -> ClusterOrganisation:
        return get_object_or_404(_organisations(), pk=self.kwargs["pk"])

    @extend_schema(summary="One organisation")
    def get(self, request: Request, pk: int) -> Response:
        return Response(OrganisationOutput(self.get_object()).data)

    @extend_schema(
        summary="Update an organisation",
        request=OrganisationPatchInput,
        responses={200: OrganisationOutput, 400: ErrorSerializer, 409: ErrorSerializer},
    )
    def patch(self, request: Request, pk: int) -> Response:
        organisation = self.get_object()
        values = dict(input_data(OrganisationPatchInput, request))
        first_contact = next(iter(organisation.contacts.all()), None)
        values.setdefault("name", organisation.name)
        values.setdefault("country", _code(organisation.country))
        if organisation.external_id:
            values.setdefault("external_id", organisation.external_id)
        if not values.get("email"):
            if first_contact is None:
                raise ApiError("This organisation has no contact: give an email.", field="email")
            values["email"] = first_contact.email
        plan = _plan([values])
        row = plan.rows[0]
        if row.action == RowAction.REJECT:
            raise _refusal(row)
        if row.organisation_id != organisation.pk:
            raise ApiError(
                "These values match another organisation (its external_id or contact email).",
                code="conflict",
                status=409,
            )
        _apply(plan)
        return Response(OrganisationOutput(self.get_object()).data)


class OrganisationContacts(ApiView):
    read_roles = STAFF_ROLES
    serializer_class = ContactOutput

    @extend_schema(
        summary="Add a contact to an organisation (or update its name and language)",
        request=ContactInput,
        responses={201: ContactOutput, 400: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request: Request, pk: int) -> Response:
        organisation = get_object_or_404(ClusterOrganisation, pk=pk)
        contact = input_data(ContactInput, request)
        values = {
            "name": organisation.name,
            "country": _code(organisation.country),
            "external_id": organisation.external_id or "",
            "email": contact["email"],
            "contact_name": contact.get("name", ""),
            "language": contact.get("language", ""),
        }
        plan = _plan([values])
        row = plan.rows[0]
        if row.action == RowAction.REJECT:
            raise _refusal(row)
        if row.organisation_id != organisation.pk:
            raise ApiError(
                "This email is a contact of another organisation.", code="conflict", status=409
            )
        _apply(plan)
        saved = Contact.objects.get(organisation=organisation, email__iexact=contact["email"])
        return Response(ContactOutput(saved).data, status=201)


class ContactPatchInput(serializers.Serializer):
    email = serializers.CharField(required=False, max_length=1000)
    name = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    language = serializers.CharField(required=False, allow_blank=True, max_length=20)


class ContactDetail(ApiView):
    """One contact: read, change (checked as the organisation import checks a contact) or
    delete (with the records of its emails, as in the organisation admin)."""

    read_roles = STAFF_ROLES
    serializer_class = ContactOutput

    def contact(self) -> Contact:
        return get_object_or_404(Contact, pk=self.kwargs["pk"])

    @extend_schema(summary="One contact")
    def get(self, request: Request, pk: int) -> Response:
        return Response(ContactOutput(self.contact()).data)

    @extend_schema(
        summary="Change a contact's email, name or language",
        request=ContactPatchInput,
        responses={200: ContactOutput, 400: ErrorSerializer, 409: ErrorSerializer},
    )
    def patch(self, request: Request, pk: int) -> Response:
        contact = self.contact()
        values = input_data(ContactPatchInput, request)
        try:
            contact = contact_update(contact=contact, **values)
        except ContactError as error:
            raise ApiError(
                str(error),
                field=error.field,
                code="conflict" if error.conflict else "invalid",
                status=409 if error.conflict else 400,
            ) from None
        return Response(ContactOutput(contact).data)

    @extend_schema(summary="Delete a contact", responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        contact_delete(contact=self.contact())
        return Response(status=204)


class ContactFilter(django_filters.FilterSet):
    organisation = django_filters.NumberFilter()
    email = django_filters.CharFilter(lookup_expr="iexact")
    suppressed = django_filters.BooleanFilter(
        field_name="suppressed_at", lookup_expr="isnull", exclude=True
    )

    class Meta:
        model = Contact
        fields = ["organisation", "email", "suppressed"]


class ContactList(ApiListView):
    read_roles = STAFF_ROLES
    serializer_class = ContactOutput
    filterset_class = ContactFilter
    ordering_fields = ["id", "email"]
    ordering = ["id"]
    queryset = Contact.objects.all()


class OrganisationBulkUpsert(ApiView):
    """Create or update up to 10,000 organisations in one request, matched by external_id (then
    a contact's email), exactly as the file import does; rejected rows are reported and the
    others written. Send an Idempotency-Key to retry safely."""

    read_roles = ()
    serializer_class = BulkUpsertOutput

    @extend_schema(
        summary="Create or update organisations in bulk",
        request=BulkUpsertInput,
        responses={200: BulkUpsertOutput, 400: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        return idempotent(request, lambda: self._upsert(request))

    def _upsert(self, request: Request) -> Response:
        data = input_data(BulkUpsertInput, request)
        plan = _plan(data["rows"])
        if not data["dry_run"]:
            _apply(plan)
        return Response(
            {
                "applied": plan.applied,
                "counts": plan.counts,
                "rows": [_row_report(row) for row in plan.rows],
            }
        )


api_urlpatterns = [
    path("organisations/", OrganisationList.as_view(), name="organisations"),
    path(
        "organisations/bulk-upsert/",
        OrganisationBulkUpsert.as_view(),
        name="organisations_bulk_upsert",
    ),
    path("organisations/<int:pk>/", OrganisationDetail.as_view(), name="organisation"),
    path(
        "organisations/<int:pk>/contacts/",
        OrganisationContacts.as_view(),
        name="organisation_contacts",
    ),
    path("contacts/", ContactList.as_view(), name="contacts"),
    path("contacts/<int:pk>/", ContactDetail.as_view(), name="contact"),
]
