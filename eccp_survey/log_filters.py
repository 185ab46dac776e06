"""Keep personal-link tokens out of every log line."""

import logging
import re

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
