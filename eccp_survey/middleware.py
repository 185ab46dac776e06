"""Project middleware."""

from django.http import FileResponse, HttpRequest
from django.http.response import HttpResponseBase
from django.middleware.gzip import GZipMiddleware as DjangoGZipMiddleware


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
