"""Property-based tests of every API operation against its OpenAPI schema (schemathesis, on
PostgreSQL through the WSGI application): generated inputs, valid and not, never give a 5xx,
and every response conforms to the schema (status code documented, body of the documented
shape, content type). Not checked: that every schema-valid input is accepted and every
schema-invalid one refused (schemathesis's positive and negative data checks): a valid JSON
country "ZZ" is refused with a 400 by the import's own checks, and unknown orderings or page
sizes fall back to the defaults, as DRF does. Path parameters name real objects, so that the
bodies and query parameters reach the code behind the lookups."""

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis import checks

from accounts.models import User
from surveys.models import Response
from tests.api.conftest import ApiWorld


def _schema() -> dict[str, Any]:
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated))


schema = schemathesis.openapi.from_dict(_schema())
schema.app = get_wsgi_application()

EXAMPLES = 12


@pytest.fixture
def keep_connection() -> Iterator[None]:
    """As Django's test client does: a request's end must not close the test's database
    connection (its transaction holds the test data)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_calls(
    api_world: ApiWorld, admin_member: User, make_token: Callable[..., str], settings: Any
) -> dict[str, Any]:
    settings.API_RATE_LIMIT = ""  # hundreds of calls: the limit has its own test
    settings.ALLOWED_HOSTS = ["*"]  # the WSGI client's host
    return {
        "token": make_token(admin_member, "write"),
        "ids": {
            "organisations": api_world.organisation_id,
            "waves": api_world.wave.pk,
            "invitations": api_world.invitation.pk,
            "responses": Response.objects.get(invitation=api_world.invitation).pk,
            "exports": api_world.export_job.pk,
            "contacts": api_world.contact_id,
            "webhooks": api_world.webhook_id,
        },
        "world": api_world,
    }


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
@pytest.mark.postgres_only
def test_api_conforms_to_its_schema(
    case: schemathesis.Case,
    api_calls: dict[str, Any],
    require_postgresql: None,
    keep_connection: None,  # last: the test client used to build the data reconnects it
) -> None:
    world: ApiWorld = api_calls["world"]
    path = case.operation.path
    if case.path_parameters:
        if "slug" in case.path_parameters:
            case.path_parameters["slug"] = world.survey.slug
        if "id" in case.path_parameters:
            kind = next(k for k in api_calls["ids"] if f"/{k}/{{id}}" in path)
            case.path_parameters["id"] = api_calls["ids"][kind]
    if path.startswith("/api/v1/respondent/"):
        headers = {"Authorization": f"Invitation {world.token}"}
    else:
        headers = {"Authorization": f"Bearer {api_calls['token']}"}
    # Uncompressed: the WSGI client does not undo the gzip of GZipMiddleware.
    case.call_and_validate(
        headers={**headers, "Accept-Encoding": "identity"},
        checks=[
            checks.not_a_server_error,
            checks.status_code_conformance,
            checks.content_type_conformance,
            checks.response_headers_conformance,
            checks.response_schema_conformance,
        ],
    )
