"""The outreach pages a recipient opens from an email: the opt-out page."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from surveys.outreach.emails import invitation_from_unsubscribe_token
from surveys.questionnaire.invitations import invitation_opt_out


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The opt-out page. GET asks for confirmation (mail scanners follow links); POST opts out,
    with or without cookies, as mail clients do for List-Unsubscribe-Post (RFC 8058).
    Idempotent."""
    invitation = invitation_from_unsubscribe_token(token)
    if invitation is None:
        raise Http404
    if request.method == "POST":
        invitation_opt_out(invitation=invitation, now=timezone.now())
        invitation.refresh_from_db(fields=["opted_out_at"])
    return render(
        request,
        "surveys/unsubscribe.html",
        {"survey": invitation.survey, "invitation": invitation},
    )
