"""Filters shared by the statistics, the dashboard, the API, the exports and the report: which
invitations (and so which responses and answers) a figure counts.

Parsed from query parameters or command options by `stats_filter_from_params`, so that every
entry point reads them the same way:
    wave=<id> (repeatable)  country=<ISO code> (repeatable)  sector=<name> (repeatable)
    experience=<band> (repeatable: 0-2, 3-5, 6-10, 11+ years, counted to the survey's opens_at)
    complete_only=1
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from surveys.models import Answer, Invitation, Response, Survey

# Years of experience bands (glossary: from the founding year to the survey's opens_at).
EXPERIENCE_BANDS: dict[str, tuple[int, int | None]] = {
    "0-2": (0, 2),
    "3-5": (3, 5),
    "6-10": (6, 10),
    "11+": (11, None),
}


class StatsFilterError(ValueError):
    """A filter value that means nothing (an unknown band, a wave id that is not a number)."""


@dataclass(frozen=True)
class StatsFilter:
    waves: tuple[int, ...] = ()
    countries: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ()
    experience: tuple[str, ...] = ()
    complete_only: bool = False

    @property
    def is_empty(self) -> bool:
        return not (self.waves or self.countries or self.sectors or self.experience)

    def as_params(self) -> list[tuple[str, str]]:
        """Back to query parameters (for links that keep the filters)."""
        params = [("wave", str(w)) for w in self.waves]
        params += [("country", c) for c in self.countries]
        params += [("sector", s) for s in self.sectors]
        params += [("experience", e) for e in self.experience]
        if self.complete_only:
            params.append(("complete_only", "1"))
        return params


def _values(params: Mapping[str, Any], key: str) -> list[str]:
    if hasattr(params, "getlist"):
        values = params.getlist(key)
    else:
        value = params.get(key)
        values = value if isinstance(value, list | tuple) else ([value] if value else [])
    # "a,b" and repeated keys both work.
    return [part.strip() for v in values for part in str(v).split(",") if part.strip()]


def stats_filter_from_params(params: Mapping[str, Any]) -> StatsFilter:
    """Read filters from a QueryDict or a plain mapping; StatsFilterError for a bad value."""
    try:
        waves = tuple(int(v) for v in _values(params, "wave"))
    except ValueError:
        raise StatsFilterError("wave must be a wave id (a number).") from None
    countries = tuple(v.upper() for v in _values(params, "country"))
    if any(len(c) != 2 or not c.isalpha() for c in countries):
        raise StatsFilterError("country must be an ISO 3166 two-letter code.")
    experience = tuple(_values(params, "experience"))
    unknown = [band for band in experience if band not in EXPERIENCE_BANDS]
    if unknown:
        raise StatsFilterError(
            f"experience must be one of {', '.join(EXPERIENCE_BANDS)} (not {', '.join(unknown)})."
        )
    complete = str(params.get("complete_only", "")).lower() in {"1", "true", "yes", "on"}
    return StatsFilter(
        waves=waves,
        countries=countries,
        sectors=tuple(_values(params, "sector")),
        experience=experience,
        complete_only=complete,
    )


def _experience_q(survey: Survey, bands: tuple[str, ...], prefix: str) -> Q:
    year = survey.opens_at.year
    condition = Q()
    for band in bands:
        low, high = EXPERIENCE_BANDS[band]
        # years = opens_at.year - year_founded, so low <= years <= high.
        part = Q(**{f"{prefix}year_founded__lte": year - low})
        if high is not None:
            part &= Q(**{f"{prefix}year_founded__gte": year - high})
        condition |= part
    return condition


def invitation_condition(survey: Survey, filters: StatsFilter, prefix: str = "") -> Q:
    """The filters as a condition on invitations; `prefix` reaches invitations from another
    model ("invitation__" from responses, "response__invitation__" from answers)."""
    condition = Q()
    if filters.waves:
        condition &= Q(**{f"{prefix}deliveries__wave_id__in": filters.waves})
    if filters.countries:
        condition &= Q(**{f"{prefix}organisation__country__in": filters.countries})
    if filters.sectors:
        condition &= Q(**{f"{prefix}organisation__sectors__name__in": filters.sectors})
    if filters.experience:
        condition &= _experience_q(survey, filters.experience, f"{prefix}organisation__")
    return condition


def filtered_invitations(*, survey: Survey, filters: StatsFilter) -> QuerySet[Invitation]:
    invitations = Invitation.objects.filter(survey=survey)
    if filters.is_empty:
        return invitations
    # Joins through deliveries and sectors can repeat an invitation: select ids, then filter.
    ids = Invitation.objects.filter(survey=survey).filter(invitation_condition(survey, filters))
    return invitations.filter(pk__in=ids.values("pk"))


def filtered_responses(*, survey: Survey, filters: StatsFilter) -> QuerySet[Response]:
    responses = Response.objects.filter(survey=survey)
    if filters.complete_only:
        responses = responses.filter(submitted_at__isnull=False)
    if not filters.is_empty:
        responses = responses.filter(
            invitation__in=filtered_invitations(survey=survey, filters=filters).values("pk")
        )
    return responses


def filtered_answers(*, survey: Survey, filters: StatsFilter) -> QuerySet[Answer]:
    answers = Answer.objects.filter(response__survey=survey)
    if filters.complete_only:
        answers = answers.filter(response__submitted_at__isnull=False)
    if not filters.is_empty:
        answers = answers.filter(
            response__invitation__in=filtered_invitations(survey=survey, filters=filters).values(
                "pk"
            )
        )
    return answers
