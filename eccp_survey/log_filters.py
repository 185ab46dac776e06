"""Log filters: keep personal-link tokens out of every log line, and 403s out of tracebacks;
put the request id in every line."""

import logging
import re
from contextvars import ContextVar

# Set by eccp_survey.middleware.RequestIdMiddleware while a request is handled.
current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")

# /s/<token>/ (personal links) and /u/<token>/ (opt-out links) carry tokens: anything after
# them up to the next / or space.
TOKEN_IN_PATH = re.compile(r"(/[su]/)[^/\s\"'?]+")
REDACTED = r"\1[redacted]"


def redact_tokens(text: str) -> str:
    return TOKEN_IN_PATH.sub(REDACTED, text)


class RedactTokensFilter(logging.Filter):
    """Rewrites the message (with its arguments merged in) so that no token survives.

    Django's request logger passes the path as an argument and attaches the request itself; both
    are rendered into the message here so that a formatter cannot print them later."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact_tokens(message)
        record.args = None
        if hasattr(record, "request"):
            record.request = None
        return True


class ForbiddenWithoutTracebackFilter(logging.Filter):
    """A 403 from PermissionDenied is a refusal working as designed, not an error, yet Django's
    request logger attaches the exception, so every refused page printed a traceback that reads
    like a crash. This keeps the one WARNING line (with the refusal's reason, if it gives one)
    and drops the traceback. Every other status, 500s above all, keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) != 403 or not record.exc_info:
            return True
        exception = record.exc_info[1]
        reason = " ".join(str(exception).split()) if exception is not None else ""
        if reason:
            # The message is a %-format with its arguments still apart: escape the reason's %.
            record.msg = f"{record.msg} ({reason.replace('%', '%%')})"
        record.exc_info = None
        record.exc_text = None
        return True


class RequestIdFilter(logging.Filter):
    """Sets record.request_id (for the formatter's {request_id}): the id of the request being
    handled, "-" outside requests (workers, commands). Django's request logger also logs after
    the middleware has returned (a 4xx), with the request attached: its id is taken from there."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        record.request_id = getattr(request, "request_id", None) or current_request_id.get()
        return True
