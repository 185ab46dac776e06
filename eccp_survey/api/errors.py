"""One error body for every 4xx of the API:

    {"errors": [{"field": "country", "code": "invalid", "message": "..."}, ...]}

`field` names the input at fault (a dotted path into the body, or a query parameter), or is
null for the request as a whole; `code` is a stable machine word (`required`, `invalid`,
`not_found`, `permission_denied`, `not_authenticated`, `throttled`, ...); `message` is the
sentence a person reads. DRF's exceptions, Django's Http404 and PermissionDenied, and the
services' own errors (ApiError) all come out this way."""

from collections.abc import Iterator
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApiError(exceptions.APIException):
    """A refusal with a field and a code, raised by views from a service's error."""

    status_code = 400
    default_code = "invalid"

    def __init__(
        self, message: str, *, code: str = "invalid", field: str | None = None, status: int = 400
    ) -> None:
        super().__init__(detail=message, code=code)
        self.field = field
        self.status_code = status


def _flatten(detail: Any, path: str | None) -> Iterator[dict[str, Any]]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = None if key in ("non_field_errors", "detail") else str(key)
            yield from _flatten(value, f"{path}.{name}" if path and name else (name or path))
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                yield from _flatten(value, f"{path}[{index}]" if path else f"[{index}]")
            else:
                yield from _flatten(value, path)
    else:
        yield {
            "field": path,
            "code": getattr(detail, "code", None) or "invalid",
            "message": str(detail),
        }


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, ApiError):
        errors = [{"field": exc.field, "code": exc.get_codes(), "message": str(exc.detail)}]
    else:
        errors = list(_flatten(exc.detail, None))
        if not isinstance(exc, exceptions.ValidationError):
            for error in errors:
                error["code"] = exc.default_code if error["code"] == "invalid" else error["code"]
    response.data = {"errors": errors}
    return response


class ErrorItemSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True, help_text="The input at fault, or null.")
    code = serializers.CharField(help_text="A stable machine word, e.g. required, not_found.")
    message = serializers.CharField(help_text="What a person reads.")


class ErrorSerializer(serializers.Serializer):
    # A declared field, not Serializer.errors (the metaclass moves fields off the class).
    errors = ErrorItemSerializer(many=True)  # type: ignore[assignment]  # see above


@csrf_exempt  # any method: the answer is a 404, never a CSRF page
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any other address under /api/: the error body, not the HTML 404 page."""
    return JsonResponse(
        {"errors": [{"field": None, "code": "not_found", "message": "No API operation here."}]},
        status=404,
    )
