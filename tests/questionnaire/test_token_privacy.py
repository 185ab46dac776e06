"""Personal-link tokens: strong, never stored in clear, never written to a log."""

import base64
import io
import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from eccp_survey.log_filters import redact_tokens
from surveys.models import Invitation
from surveys.questionnaire.invitations import (
    TOKEN_PATTERN,
    invitation_get_by_token,
    invitation_link,
    invitation_token_from_nonce,
)
from tests.factories import invitation_with_token, open_survey

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.django_db
def test_token_has_at_least_128_bits_and_is_url_safe():
    survey = open_survey()
    tokens = {invitation_with_token(survey)[1] for _ in range(20)}
    assert len(tokens) == 20
    for token in tokens:
        assert TOKEN_PATTERN.match(token)
        assert len(token) * 6 >= 128  # base64: six bits a character
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)


@pytest.mark.django_db
def test_the_database_never_holds_the_token_in_clear():
    invitation, token = invitation_with_token(open_survey())
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Invitation._meta.db_table}")
        columns = [str(value) for row in cursor.fetchall() for value in row]
    assert not any(token in value for value in columns)
    # The stored fields cannot open the survey without SECRET_KEY: the link is HMAC-derived.
    assert token not in invitation.token_nonce and token != invitation.token_hash


def _another_character(token: str, index: int) -> str:
    swapped = "B" if token[index] != "B" else "C"
    return token[:index] + swapped + token[index + 1 :]


@pytest.mark.django_db
def test_the_token_lookup_compares_the_hash_so_a_well_formed_token_of_no_invitation_opens_nothing(
    client,
):
    """With invitations in the database (the lookup has rows to return), a token of the right
    shape whose hash matches none of them opens nothing: neither a token made from a nonce that
    no invitation stores, nor a real token with one character changed."""
    survey = open_survey()
    invitation, token = invitation_with_token(survey)
    invitation_with_token(survey)  # a second invitation: no "the only row" by accident
    strangers = [
        invitation_token_from_nonce("a nonce that no invitation stores"),
        _another_character(token, 0),
        _another_character(token, 42),
    ]
    for stranger in strangers:
        assert TOKEN_PATTERN.match(stranger)
        assert invitation_get_by_token(token=stranger) is None
        response = client.get(f"/s/{stranger}/")
        assert response.status_code == 404
        assert invitation.organisation.name not in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.first_opened_at is None
    # The real token still opens its own invitation, and only that one.
    assert invitation_get_by_token(token=token) == invitation


@pytest.mark.django_db
def test_link_uses_site_url(settings):
    settings.SITE_URL = "https://survey.example.eu"
    invitation, token = invitation_with_token(open_survey())
    assert invitation_link(invitation) == f"https://survey.example.eu/s/{token}/"


def test_redaction_keeps_the_rest_of_the_line():
    line = '127.0.0.1 "GET /s/abcDEF_-123/ HTTP/1.1" 302 - "/s/zzz/"'
    assert redact_tokens(line) == '127.0.0.1 "GET /s/[redacted]/ HTTP/1.1" 302 - "/s/[redacted]/"'


@pytest.mark.django_db
def test_django_404_warning_does_not_log_the_token(client):
    handler = logging.getLogger("django.request").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        token = "A" * 43
        assert client.get(f"/s/{token}/").status_code == 404
    finally:
        handler.setStream(previous)
    output = stream.getvalue()
    assert "Not Found" in output
    assert "/s/[redacted]/" in output
    assert token not in output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_gunicorn_access_log_does_not_contain_tokens(require_postgresql, tmp_path):
    _, token = invitation_with_token(open_survey())
    database = settings.DATABASES["default"]
    port = _free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
        ),
        "SECRET_KEY": settings.SECRET_KEY,
        "VAR_DIR": str(tmp_path),
    }
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "eccp_survey.wsgi",
                "--config",
                "python:eccp_survey.gunicorn_conf",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/health/", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(f"{base}/s/{token}/", timeout=5)
        assert redirect.value.code == 302
        with pytest.raises(urllib.error.HTTPError) as missing:
            opener.open(f"{base}/s/{'B' * 43}/", timeout=5)
        assert missing.value.code == 404
    finally:
        server.terminate()
        server.wait(timeout=10)
    output = log.read_text()
    assert '"GET /s/[redacted]/ HTTP/1.1" 302' in output
    assert '"GET /s/[redacted]/ HTTP/1.1" 404' in output
    assert token not in output and "B" * 43 not in output


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_token_is_the_salted_hmac_of_the_nonce_with_the_current_secret(settings):
    """Links already sent stay valid: the token is what Django's salted_hmac gives (the key
    derived once per secret is only a shortcut), and a new SECRET_KEY gives new tokens."""
    from django.utils.crypto import salted_hmac

    from surveys.questionnaire.invitations import TOKEN_SALT, invitation_token_from_nonce

    def expected(nonce: str) -> str:
        digest = salted_hmac(TOKEN_SALT, nonce, algorithm="sha256").digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    nonce = "0123456789abcdef0123456789abcdef"
    first = invitation_token_from_nonce(nonce)
    assert first == expected(nonce)
    settings.SECRET_KEY = "another-secret-key-of-sufficient-length-for-the-test-0123456789"
    assert invitation_token_from_nonce(nonce) == expected(nonce) != first
