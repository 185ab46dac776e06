"""Staff pages of webhooks: the endpoints, one endpoint with its events and every attempt,
create, edit, delete, and its secret (shown once; revealed again to Admins only)."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from accounts.roles import ADMIN, STAFF, role_required, user_has_role
from surveys.models import WebhookEndpoint, WebhookEvent, WebhookEventType
from surveys.webhooks.endpoints import (
    EndpointError,
    endpoint_events_page,
    endpoint_may_manage,
    endpoints_with_activity,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_reveal_secret,
    webhook_endpoint_roll_secret,
    webhook_endpoint_update,
    webhook_event_retry,
)
from surveys.webhooks.forms import EndpointForm
from surveys.webhooks.signing import EVENT_HEADER, ID_HEADER, SIGNATURE_HEADER

# The session key under which a new secret waits to be shown, once.
NEW_SECRET_KEY = "webhook-new-secret-{}"


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # role_required let only members in
    return request.user


def _endpoint(request: HttpRequest, endpoint_id: int) -> WebhookEndpoint:
    endpoint = get_object_or_404(WebhookEndpoint.objects.select_related("survey"), pk=endpoint_id)
    if not endpoint_may_manage(user=request.user, endpoint=endpoint):
        raise PermissionDenied("Only Admins see endpoints that receive identified data.")
    return endpoint


@role_required(ADMIN, STAFF)
@require_http_methods(["GET"])
def endpoint_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "staff/webhooks/list.html",
        {
            "endpoints": endpoints_with_activity(),
            "is_admin": user_has_role(request.user, ADMIN),
            "event_types": WebhookEventType.choices,
        },
    )


def _save(request: HttpRequest, endpoint: WebhookEndpoint | None) -> HttpResponse:
    user = _user(request)
    may_identify = user_has_role(user, ADMIN)
    initial: dict[str, Any] = {"is_active": True}
    if endpoint is not None:
        initial = {
            "url": endpoint.url,
            "description": endpoint.description,
            "events": endpoint.events,
            "survey": endpoint.survey,
            "is_active": endpoint.is_active,
            "identified": endpoint.identified,
        }
    form = EndpointForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        may_identify=may_identify,
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            fields = {
                "url": data["url"],
                "events": data["events"],
                "description": data["description"],
                "survey": data["survey"],
                "is_active": data["is_active"],
                "identified": data.get("identified", False),
            }
            try:
                if endpoint is None:
                    endpoint = webhook_endpoint_create(
                        **fields, created_by=user, now=timezone.now()
                    )
                    request.session[NEW_SECRET_KEY.format(endpoint.pk)] = endpoint.secret
                    messages.success(request, "Endpoint added. Copy its secret now.")
                else:
                    webhook_endpoint_update(endpoint=endpoint, user=user, **fields)
                    messages.success(request, "Endpoint saved.")
                return redirect("surveys:webhook", endpoint_id=endpoint.pk)
            except EndpointError as error:
                form.add_error(None, str(error))
        status = 400
    return render(
        request,
        "staff/webhooks/form.html",
        {"form": form, "endpoint": endpoint},
        status=status,
    )


@role_required(ADMIN, STAFF)
@require_http_methods(["GET", "POST"])
def endpoint_create(request: HttpRequest) -> HttpResponse:
    return _save(request, None)


@role_required(ADMIN, STAFF)
@require_http_methods(["GET", "POST"])
def endpoint_edit(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    return _save(request, _endpoint(request, endpoint_id))


@role_required(ADMIN, STAFF)
@require_http_methods(["GET"])
def endpoint_detail(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    return _detail(
        request, endpoint, secret=request.session.pop(NEW_SECRET_KEY.format(endpoint.pk), "")
    )


def _detail(
    request: HttpRequest, endpoint: WebhookEndpoint, *, secret: str, revealed: bool = False
) -> HttpResponse:
    labels = dict(WebhookEventType.choices)
    response = render(
        request,
        "staff/webhooks/detail.html",
        {
            "endpoint": endpoint,
            "event_labels": [labels.get(value, value) for value in endpoint.events],
            "events": endpoint_events_page(endpoint=endpoint, page=request.GET.get("page")),
            "secret": secret,
            "revealed": revealed,
            "is_admin": user_has_role(request.user, ADMIN),
            "signature_header": SIGNATURE_HEADER,
            "id_header": ID_HEADER,
            "event_header": EVENT_HEADER,
        },
    )
    if secret:
        response["Cache-Control"] = "no-store"
    return response


@role_required(ADMIN)
@require_POST
def endpoint_secret_reveal(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    secret = webhook_endpoint_reveal_secret(endpoint=endpoint, user=_user(request))
    return _detail(request, endpoint, secret=secret, revealed=True)


@role_required(ADMIN, STAFF)
@require_POST
def endpoint_secret_roll(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    secret = webhook_endpoint_roll_secret(endpoint=endpoint, user=_user(request))
    request.session[NEW_SECRET_KEY.format(endpoint.pk)] = secret
    messages.success(request, "New secret made: the old one no longer signs. Copy it now.")
    return redirect("surveys:webhook", endpoint_id=endpoint.pk)


@role_required(ADMIN, STAFF)
@require_http_methods(["GET", "POST"])
def endpoint_delete(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    if request.method == "POST":
        webhook_endpoint_delete(endpoint=endpoint)
        messages.success(request, f"Endpoint {endpoint} deleted.")
        return redirect("surveys:webhooks")
    return render(request, "staff/webhooks/delete.html", {"endpoint": endpoint})


@role_required(ADMIN, STAFF)
@require_POST
def event_retry(request: HttpRequest, endpoint_id: int, event_id: int) -> HttpResponse:
    """One more attempt, now, for a failed event."""
    endpoint = _endpoint(request, endpoint_id)
    event = get_object_or_404(WebhookEvent, pk=event_id, endpoint=endpoint)
    if webhook_event_retry(event=event, now=timezone.now()):
        messages.success(request, f"Event {event.event_id} queued: one more attempt now.")
    else:
        messages.info(request, f"Event {event.event_id} had not failed: nothing to retry.")
    return redirect("surveys:webhook", endpoint_id=endpoint.pk)
