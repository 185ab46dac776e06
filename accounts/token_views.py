"""/staff/api-tokens/: a staff member's personal API tokens: make one (its secret shown once),
list them with their last use, revoke one."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.api_tokens import ApiTokenError, api_token_create, api_token_revoke, api_tokens_of
from accounts.models import ApiToken
from accounts.roles import ADMIN, STAFF, VIEWER, role_required
from surveys.models import Survey


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What uses it, e.g. “CRM sync” or “nightly responses pull”.",
    )
    scope = forms.ChoiceField(
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.READ,
        widget=forms.RadioSelect,
        help_text="Read only: GET requests. Read and write: everything your role allows.",
    )
    survey = forms.ModelChoiceField(
        queryset=Survey.objects.order_by("title"),
        required=False,
        empty_label="Every survey (and organisations)",
        help_text="Limit the token to one survey's resources.",
    )


@never_cache
@role_required(ADMIN, STAFF, VIEWER)
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    new_secret = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                created = api_token_create(
                    user=request.user,
                    name=form.cleaned_data["name"],
                    scope=form.cleaned_data["scope"],
                    survey=form.cleaned_data["survey"],
                    now=timezone.now(),
                )
            except ApiTokenError as error:
                form.add_error(None, str(error))
                status = 400
            else:
                new_secret = created.secret
                form = ApiTokenForm()
        else:
            status = 400
    return render(
        request,
        "staff/api_tokens.html",
        {
            "form": form,
            "tokens": api_tokens_of(user=request.user),
            "new_secret": new_secret,
            "site_url": request.build_absolute_uri("/").rstrip("/"),
        },
        status=status,
    )


@never_cache
@role_required(ADMIN, STAFF, VIEWER)
@require_POST
def api_token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    if api_token_revoke(token_id=token_id, user=request.user, now=timezone.now()):
        messages.success(request, "The token is revoked: it no longer works.")
    else:
        messages.error(request, "No such token of yours, or it was revoked already.")
    return redirect("accounts:api_tokens")
