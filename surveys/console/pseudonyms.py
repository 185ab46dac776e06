"""The pseudonym that stands for a response in the console, for everyone but Admins.

Unlike an export's pseudonym (a key per export: unrelated across files), the console's is
stable, so that a link to one response can be shared and bookmarked. It is a keyed permutation
of the response id (a four-round Feistel network over 48 bits, each round an HMAC under a key
derived from SECRET_KEY and the survey): the server turns it back into the id without a table,
while without SECRET_KEY it says nothing about the id, its order or the organisation. Same form
as the exports' pseudonyms: "R" and 12 hexadecimal digits."""

import hashlib
import hmac
import re

from django.conf import settings

HALF_BITS = 24
HALF_MASK = (1 << HALF_BITS) - 1
ROUNDS = 4
PSEUDONYM_PATTERN = re.compile(r"^R[0-9A-F]{12}$")


class PseudonymError(ValueError):
    """Not a pseudonym of this survey's console."""


def _survey_key(survey_id: int) -> bytes:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"console-pseudonym:{survey_id}".encode(), hashlib.sha256
    ).digest()


def _round(key: bytes, number: int, half: int) -> int:
    digest = hmac.new(key, f"{number}:{half}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") & HALF_MASK


def response_pseudonym(*, survey_id: int, response_id: int) -> str:
    """The response's pseudonym in its survey's console. Ids up to 2**48 - 1."""
    if not 0 <= response_id < 1 << (2 * HALF_BITS):
        raise ValueError("response id out of range")
    key = _survey_key(survey_id)
    left, right = response_id >> HALF_BITS, response_id & HALF_MASK
    for number in range(ROUNDS):
        left, right = right, left ^ _round(key, number, right)
    return f"R{(left << HALF_BITS) | right:012X}"


def response_id_from_pseudonym(*, survey_id: int, pseudonym: str) -> int:
    """The response id a pseudonym of this survey stands for (whether it exists is the
    caller's to check); PseudonymError for text that is not a pseudonym."""
    if not PSEUDONYM_PATTERN.match(pseudonym):
        raise PseudonymError(pseudonym)
    value = int(pseudonym[1:], 16)
    key = _survey_key(survey_id)
    left, right = value >> HALF_BITS, value & HALF_MASK
    for number in reversed(range(ROUNDS)):
        left, right = right ^ _round(key, number, left), left
    return (left << HALF_BITS) | right
