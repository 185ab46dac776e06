"""Filters shared by the statistics, the dashboard, the API, the exports and the report: which
invitations (and so which responses and answers) a figure counts.

Parsed from query parameters or command options by `stats_filter_from_params`, so that every
entry point reads them the same way:
    wave=<id> (repeatable)  country=<ISO code> (repeatable)  sector=<name> (repeatable)
    experience=<band> (repeatable: 0-2, 3-5, 6-10, 11+ years, counted to the survey's opens_at;
                       "unknown" for organisations without a founding year)
    complete_only=1
A value that cannot be read raises StatsFilterError at once; `stats_filter_check` then refuses
values that can be read but name nothing of the survey (another survey's wave, an unknown
sector), so that a typo is an error rather than a page of zeros.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django_countries import countries as django_countries

from surveys.models import (
    Answer,
    ClusterOrganisation,
    Delivery,
    Invitation,
    Response,
    Sector,
    Survey,
    Wave,
)

# Years of experience bands (glossary: from the founding year to the survey's opens_at).
EXPERIENCE_BANDS: dict[str, tuple[int, int | None]] = {
    "0-2": (0, 2),
    "3-5": (3, 5),
    "6-10": (6, 10),
    "11+": (11, None),
}
# Organisations without a founding year: a filter value and a row of the breakdown.
EXPERIENCE_UNKNOWN = "unknown"


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
    # Ids are PostgreSQL integers: a larger number would fail in the query, not match nothing.
    if any(not 0 < w < 2**31 for w in waves):
        raise StatsFilterError("wave must be a wave id (a positive number).")
    countries = tuple(v.upper() for v in _values(params, "country"))
    if any(len(c) != 2 or not c.isascii() or not c.isalpha() for c in countries):
        raise StatsFilterError("country must be an ISO 3166 two-letter code.")
    unknown_countries = [c for c in countries if not django_countries.alpha2(c)]
    if unknown_countries:
        raise StatsFilterError(
            f"country: {', '.join(unknown_countries)} is not an ISO 3166 country code."
        )
    experience = tuple(_values(params, "experience"))
    unknown = [
        band for band in experience if band not in EXPERIENCE_BANDS and band != EXPERIENCE_UNKNOWN
    ]
    if unknown:
        raise StatsFilterError(
            f"experience must be one of {', '.join([*EXPERIENCE_BANDS, EXPERIENCE_UNKNOWN])} "
            f"(not {', '.join(unknown)})."
        )
    complete = str(params.get("complete_only", "")).lower() in {"1", "true", "yes", "on"}
    return StatsFilter(
        waves=waves,
        countries=countries,
        sectors=tuple(_values(params, "sector")),
        experience=experience,
        complete_only=complete,
    )


def stats_filter_check(*, survey: Survey, filters: StatsFilter) -> None:
    """StatsFilterError when a wave is not one of the survey's or a sector does not exist.

    At most two small queries, and none without wave or sector filters. Also keeps values
    that PostgreSQL would refuse (an id beyond its integer range) from reaching a query."""
    if filters.waves:
        known = set(Wave.objects.filter(survey=survey).values_list("pk", flat=True))
        missing = [str(w) for w in filters.waves if w not in known]
        if missing:
            raise StatsFilterError(f"wave {', '.join(missing)} is not a wave of this survey.")
    if filters.sectors:
        known_names = set(
            Sector.objects.filter(
                name__in=[s for s in filters.sectors if "\x00" not in s]
            ).values_list("name", flat=True)
        )
        missing = [s for s in filters.sectors if s not in known_names]
        if missing:
            raise StatsFilterError(f"sector: no sector named {', '.join(map(repr, missing))}.")


def experience_reference_year(survey: Survey) -> int:
    """The year experience is counted to: the survey's opening, in the site's time zone (a
    survey opening at midnight on 1 January in Brussels is still 31 December in UTC)."""
    return timezone.localtime(survey.opens_at).year


def _experience_q(survey: Survey, bands: tuple[str, ...], prefix: str) -> Q:
    year = experience_reference_year(survey)
    condition = Q()
    for band in bands:
        if band == EXPERIENCE_UNKNOWN:
            condition |= Q(**{f"{prefix}year_founded__isnull": True})
            continue
        low, high = EXPERIENCE_BANDS[band]
        # years = max(0, year - year_founded), so low <= years <= high. The lowest band has no
        # upper bound on the founding year: one founded after the survey opened has 0 years.
        part = Q(**{f"{prefix}year_founded__isnull": False})
        if low > 0:
            part &= Q(**{f"{prefix}year_founded__lte": year - low})
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
    """The survey's invitations that the filters choose (complete_only aside: it is about
    responses). Each invitation once: the many-valued relations (deliveries, sectors) are
    tested with EXISTS, which the database runs as a semi-join, rather than joined (which
    repeats invitations) and de-duplicated through a nested id subquery."""
    invitations = Invitation.objects.filter(survey=survey)
    if filters.waves:
        invitations = invitations.filter(
            Exists(Delivery.objects.filter(invitation=OuterRef("pk"), wave_id__in=filters.waves))
        )
    if filters.countries:
        invitations = invitations.filter(organisation__country__in=filters.countries)
    if filters.sectors:
        organisation_sectors = ClusterOrganisation.sectors.through.objects
        invitations = invitations.filter(
            Exists(
                organisation_sectors.filter(
                    clusterorganisation=OuterRef("organisation"),
                    sector__name__in=filters.sectors,
                )
            )
        )
    if filters.experience:
        invitations = invitations.filter(
            _experience_q(survey, filters.experience, "organisation__")
        )
    return invitations


def filtered_responses(*, survey: Survey, filters: StatsFilter) -> QuerySet[Response]:
    responses = Response.objects.filter(survey=survey)
    if filters.complete_only:
        responses = responses.filter(submitted_at__isnull=False)
    if not filters.is_empty:
        responses = responses.filter(
            invitation__in=filtered_invitations(survey=survey, filters=filters).values("pk")
        )
    return responses


def filtered_answers(
    *, survey: Survey, filters: StatsFilter, question_ids: Iterable[int] | None = None
) -> QuerySet[Answer]:
    """The answer rows of the filtered responses.

    Reached through the survey's questions rather than a join with responses: the answer
    indexes lead with question_id, so the database can read a survey's answers from an index
    alone. Callers that hold the question ids already pass them (`question_ids`), which lets it
    scan just those ranges; responses are joined only when a filter needs them."""
    if question_ids is None:
        answers = Answer.objects.filter(question__survey=survey)
    else:
        answers = Answer.objects.filter(question_id__in=list(question_ids))
    if filters.complete_only or not filters.is_empty:
        answers = answers.filter(
            response__in=filtered_responses(survey=survey, filters=filters).values("pk")
        )
    return answers
