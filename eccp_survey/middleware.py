"""Project middleware."""

import re
import uuid
from collections.abc import Callable

from django.http import FileResponse, HttpRequest
from django.http.response import HttpResponseBase
from django.middleware.gzip import GZipMiddleware as DjangoGZipMiddleware

from eccp_survey.log_filters import current_request_id


class GZipMiddleware(DjangoGZipMiddleware):
    """Django's (with its BREACH padding), minus file downloads: XLSX files are zip archives
    already and SPSS files gain little, while compressing them costs the server CPU and drops
    Content-Length, and with it the browser's download progress."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if isinstance(response, FileResponse):
            return response
        return super().process_response(request, response)


# A request id as a load balancer or proxy may send it: letters, digits, dot, dash, underscore
# (a UUID fits). Anything else is replaced, so that a header cannot forge log lines.
REQUEST_ID_HEADER = "X-Request-ID"
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")


def request_id_for(request: HttpRequest) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    return incoming if SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Gives every request an id: on the request (the error pages show it), in the response's
    X-Request-ID header, and in every log line written while the request is handled
    (eccp_survey.log_filters.RequestIdFilter), so that an id a user reports finds its lines.
    First in MIDDLEWARE, so that the error responses of the others carry it too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = request_id_for(request)
        request.request_id = request_id  # type: ignore[attr-defined]  # read by error views
        token = current_request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response
