"""The server error page (handler500 in eccp_survey/urls.py).

It must not fail itself: it reads no database and runs no context processor (the template is
rendered without the request), and if even that fails it answers in plain text."""

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader

from eccp_survey.log_filters import current_request_id

logger = logging.getLogger(__name__)

# Where people without an account arrive from an email: the personal link, the questionnaire,
# the opt-out page. They are told their saved answers are safe; everyone else is staff.
RESPONDENT_PATH_PREFIXES = ("/s/", "/respond/", "/u/")


def is_respondent_path(path: str) -> bool:
    return path.startswith(RESPONDENT_PATH_PREFIXES)


def server_error(request: HttpRequest) -> HttpResponse:
    request_id = getattr(request, "request_id", None) or current_request_id.get()
    context = {"request_id": request_id, "respondent": is_respondent_path(request.path)}
    try:
        body = loader.get_template("500.html").render(context)
    except Exception:  # the error page of last resort cannot raise
        logger.exception("The 500 page could not be rendered")
        body = f"Something went wrong on our side. Request id: {request_id}\n"
        return HttpResponseServerError(body, content_type="text/plain; charset=utf-8")
    return HttpResponseServerError(body)
