"""The ECCP demo: the 2019 survey with synthetic answers that reproduce the published figures,
and an open copy of it to try.

Every count comes from the tables below (../shared/seed/demo-figures.md), never from random
draws: each option goes to exactly its count of respondents, as consecutive, wrapping ranges over
a seeded shuffle of them (`_spread`). A seeded random generator only picks what no figure
depends on: founding years within an answer's range, dates, names.
"""

import random
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from django.db import transaction
from django_countries import countries

from surveys.models import (
    Answer,
    ClusterOrganisation,
    Contact,
    Delivery,
    Invitation,
    Response,
    Sector,
    Survey,
    Wave,
)
from surveys.outreach.waves import wave_create, wave_launch
from surveys.questionnaire.invitations import invitation_create, new_token_fields
from surveys.questionnaire.structure import Answers, Questionnaire, answer_rows, questionnaire_load
from surveys.questionnaire.survey_files import survey_file_parse, survey_import

QUESTIONNAIRE_FILE = Path(__file__).resolve().parent / "eccp-2019.yaml"
HISTORIC_SLUG = "eccp-2019"
DEMO_SLUG = "eccp-demo"
DEMO_OPEN_DAYS = 60
DEMO_INVITATIONS = 5
EXTERNAL_ID_PREFIX = "eccp-demo-"
SEED = 2019
BRUSSELS = ZoneInfo("Europe/Brussels")

# Organisations per COSME country of 2019: the EU28 and the associated countries. 884 in all.
ORGANISATIONS_PER_COUNTRY = {
    "ES": 88, "FR": 75, "IT": 71, "DE": 68, "PL": 45, "PT": 40, "RO": 35, "BE": 35, "GB": 35,
    "GR": 30, "NL": 25, "SE": 25, "BG": 25, "HU": 22, "CZ": 22, "AT": 20, "DK": 18, "FI": 15,
    "SI": 15, "HR": 15, "SK": 12, "LT": 12, "LV": 10, "EE": 10, "IE": 10, "CY": 6, "LU": 5,
    "MT": 4, "NO": 15, "IS": 3, "TR": 25, "UA": 12, "RS": 10, "MK": 5, "BA": 5, "MD": 5,
    "AL": 4, "AM": 4, "ME": 3,
}  # fmt: skip

# Respondents. The partial ones saved pages 1 and 2 and were sent on to page 3.
COMPLETE = 200
PARTIAL = 40
OPENED_ONLY = 30
PARTIAL_CURRENT_PAGE = 3

# Pages 1 and 2: choice value -> (complete, partial) respondents choosing it.
EXPERIENCE = {1: (15, 3), 2: (40, 8), 3: (145, 29)}
FREQUENCY = {1: (24, 5), 2: (47, 9), 3: (53, 11), 4: (42, 8), 5: (34, 7)}
SERVICES_USED = {
    1: (134, 27), 2: (116, 23), 3: (90, 18), 4: (80, 16), 5: (76, 15), 6: (72, 14), 7: (50, 10),
    8: (10, 2),
}  # fmt: skip
QUALITY_SERVICES = {5: (70, 14), 4: (104, 20), 3: (20, 5), 2: (5, 1), 1: (1, 0)}
QUALITY_INFORMATION = {5: (60, 12), 4: (90, 18), 3: (40, 8), 2: (8, 2), 1: (2, 0)}
SATISFACTION = {5: (80, 16), 4: (110, 22), 3: (8, 2), 2: (2, 0), 1: (0, 0)}
PAGE_1_2_CHOICES = {
    "experience": EXPERIENCE,
    "frequency": FREQUENCY,
    "services_used": SERVICES_USED,
    "quality_services": QUALITY_SERVICES,
    "quality_information": QUALITY_INFORMATION,
    "satisfaction": SATISFACTION,
}
MULTIPLE = {"services_used"}
SERVICES_OTHER = 8

# Pages 3 and 4, complete respondents only.
TARGET_COUNTRIES = {
    "US": 107, "CA": 89, "CN": 76, "JP": 61, "IN": 52, "BR": 44, "KR": 37, "MX": 30, "SG": 24,
    "AU": 19, "ZA": 15, "IL": 13, "CL": 12, "AR": 11, "VN": 10, "TH": 9, "AE": 8, "MA": 8,
    "CO": 7, "TN": 6, "NZ": 6, "MY": 5, "EG": 4, "PE": 3, "TW": 3,
}  # fmt: skip
COOPERATION_OUTSIDE_EU = {1: 100, 0: 100}
# Among those who answered yes.
COOPERATION_COUNTRIES = {
    "US": 14, "CA": 14, "CN": 13, "JP": 12, "CH": 11, "IN": 10, "BR": 9, "KR": 9, "UA": 8,
    "SG": 8, "MX": 7, "TR": 7, "AU": 6, "ZA": 6, "IL": 5, "CL": 5, "NO": 4, "MA": 4, "AR": 3,
    "VN": 3, "TN": 3, "RS": 2, "CO": 2,
}  # fmt: skip
PROFILE_UPDATED = {1: 52, 2: 70, 3: 48, 4: 30}
SOCIAL_MEDIA_NONE = 5
SOCIAL_MEDIA_NONE_COUNT = 50
# Among the others: "None of these" is an exclusive choice (eccp-2019.yaml), which the form
# refuses with any other channel, so those who chose it chose nothing else.
SOCIAL_MEDIA = {1: 70, 2: 85, 3: 35, 4: 12}

# Experience answer -> founding years: less than 2 years, 2 to 5 years, more than 5 years.
FOUNDED_RANGES = {1: (2018, 2019), 2: (2014, 2017), 3: (1985, 2013)}
# Profile answer (2019, 2018, 2017 or earlier, I don't remember; 0: not asked) -> dates.
PROFILE_RANGES = {
    0: (date(2015, 1, 5), date(2019, 5, 10)),
    1: (date(2019, 1, 7), date(2019, 5, 10)),
    2: (date(2018, 1, 2), date(2018, 12, 21)),
    3: (date(2014, 1, 6), date(2017, 12, 22)),
    4: (date(2016, 1, 4), date(2018, 12, 21)),
}

# Most answers come in the days after the invitation (14 May) and after each reminder.
SENDS = [
    (datetime(2019, 5, 14, 8, 0, tzinfo=BRUSSELS), 0.55),
    (datetime(2019, 5, 28, 9, 0, tzinfo=BRUSSELS), 0.25),
    (datetime(2019, 6, 18, 9, 0, tzinfo=BRUSSELS), 0.20),
]

OTHER_SERVICES = [
    "Cluster excellence labelling information",
    "Webinars",
    "Matchmaking at ECCP events",
    "Tenders and procurement news",
    "Cluster Collaboration Platform helpdesk",
    "Good practice library",
]
ADDITIONAL_SERVICES = [
    "A clearer overview of what the platform already offers; we discovered the partner search "
    "only through this survey.",
    "A partner search that can filter by technology and by the type of partner we look for.",
    "Matchmaking meetings between cluster managers at the main European events.",
    "Services for our member companies, not only for the cluster management team.",
    "A space to exchange experience between cluster managers, e.g. a forum or peer reviews.",
    "Regular webinars on EU funding opportunities for clusters and SMEs.",
    "Alerts on open calls matching our sectors instead of the full list.",
    "Support to find clusters in third countries before trade missions.",
    "Training for cluster managers on internationalisation strategies.",
    "A calendar of cluster events that we can filter by sector and country.",
    "Translation of the key pages into more EU languages.",
    "Success stories of cluster cooperation that we can share with our members.",
    "Information on the European Strategic Cluster Partnerships and how to join one.",
    "A directory of experts and service providers for cluster development.",
    "Data and benchmarks on clusters in our sector across Europe.",
    "Promotion of our own events and calls to other clusters.",
    "Easier access to the mapping tool data, e.g. downloadable lists.",
    "Job and internship offers from cluster members.",
    "Twinning or study visits between clusters of different regions.",
    "A newsletter section dedicated to internationalisation opportunities.",
    "Help to build consortia for Horizon 2020 and COSME calls.",
    "A partner search for cluster members too, so that companies can find each other.",
    "Short video presentations of clusters on their profile pages.",
    "An annual online meeting of all profiled cluster organisations.",
]
SUGGESTIONS = [
    "Communicate more about the services: many of our colleagues do not know them.",
    "Make the information easier to find; the menus are confusing.",
    "Improve the partner search: results are often outdated profiles.",
    "Remind organisations to update their profiles, maybe twice a year.",
    "Be more present on LinkedIn, where our members are.",
    "Share the weekly digest also in a shorter version for busy managers.",
    "Give cluster members their own access, not only the cluster organisation.",
    "Organise online sessions where clusters can present themselves to each other.",
    "Show which profiles were updated recently so that we know who is active.",
    "Add a search by keyword across news, events and calls.",
    "Keep the platform simple; the current news and events sections work well.",
    "Highlight the strategic third countries more clearly in the international section.",
    "Publish more news on cluster policy in the COSME associated countries.",
    "Allow several contact persons per cluster profile.",
    "Offer a mobile-friendly version of the site.",
    "Send fewer but more targeted emails.",
    "Provide templates for cooperation agreements between clusters.",
    "Link the mapping tool to the partner search.",
    "Give feedback to clusters that publish events on how many people viewed them.",
    "Continue the good work; the team is very responsive.",
    "Explain better how the partner search works, with examples of successful matches.",
    "Create thematic groups where clusters of the same sector exchange experience.",
    "Announce new features by email; we rarely visit the home page.",
    "Involve cluster members in the platform, they are the final beneficiaries.",
]

THEMES = [
    ("Aerospace", "Aerospace and defence"),
    ("Agri-Food", "Agri-food"),
    ("Automotive", "Mobility and automotive"),
    ("Biotech", "Health and life sciences"),
    ("Clean Energy", "Energy"),
    ("Digital", "Digital industries"),
    ("Health", "Health and life sciences"),
    ("Logistics", "Logistics"),
    ("Maritime", "Maritime and blue economy"),
    ("Advanced Materials", "Advanced materials"),
    ("Photonics", "Digital industries"),
    ("Plastics", "Advanced materials"),
    ("Textile", "Textiles and fashion"),
    ("Tourism", "Tourism and creative industries"),
    ("Wood and Furniture", "Construction and wood"),
    ("Water", "Environmental industries"),
    ("Creative Industries", "Tourism and creative industries"),
    ("Smart Mobility", "Mobility and automotive"),
    ("Circular Economy", "Environmental industries"),
    ("Construction", "Construction and wood"),
]
KINDS = ["Cluster", "Innovation Cluster", "Cluster Association", "Network", "Technology Platform"]
FIRST_NAMES = [
    "Anna", "Marco", "Sofia", "Jan", "Elena", "Pierre", "Maria", "Lukas", "Ines", "Tomas",
    "Eva", "Nikos", "Laura", "Mikael", "Ana", "Peter", "Ioana", "Jonas", "Marta", "David",
]  # fmt: skip
LAST_NAMES = [
    "Novak", "Rossi", "Garcia", "Janssens", "Müller", "Dubois", "Kowalska", "Silva", "Popescu",
    "Nielsen", "Horvat", "Papadopoulos", "Virtanen", "Smith", "Berzina", "Kask", "Murphy",
    "Schmit", "Borg", "Kaya",
]  # fmt: skip


@dataclass
class DemoResult:
    survey: Survey
    demo_survey: Survey
    demo_survey_created: bool
    demo_invitations: list[Invitation]
    organisations: int
    invited: int
    completed: int
    partial: int
    opened_only: int


@transaction.atomic
def demo_load(*, now: datetime) -> DemoResult:
    """Load the ECCP demo. Idempotent: a second run leaves the same data.

    - Upserts the 884 demo organisations (by external_id), their contact and sectors.
    - Replaces the eccp-2019 survey (questionnaire, invitations, responses, answers) with the
      questionnaire file and the synthetic responses; only the random link tokens change.
    - Creates eccp-demo (open from `now` for 60 days) unless it exists, so that answers given
      to it survive a reload, and makes sure its invitations to 5 demo organisations exist.
    All in one transaction."""
    data = questionnaire_data()
    plan = respondents_plan()
    organisations = _organisations_upsert(plan=plan)
    survey = _historic_survey_replace(data=data)
    invited = _historic_responses_create(survey=survey, organisations=organisations, plan=plan)
    demo_survey, created = _demo_survey_ensure(data=data, now=now)
    demo_invitations = [
        invitation_create(survey=demo_survey, organisation=organisation, now=now)
        for organisation in organisations[:DEMO_INVITATIONS]
    ]
    _demo_wave_ensure(survey=demo_survey, organisations=organisations[:DEMO_INVITATIONS], now=now)
    return DemoResult(
        survey=survey,
        demo_survey=demo_survey,
        demo_survey_created=created,
        demo_invitations=demo_invitations,
        organisations=len(organisations),
        invited=invited,
        completed=COMPLETE,
        partial=PARTIAL,
        opened_only=OPENED_ONLY,
    )


# Spreading counts over respondents ------------------------------------------------------------

R = TypeVar("R", bound=Hashable)
V = TypeVar("V")


def _shuffled(items: Sequence[R], *, key: str) -> list[R]:
    # A string seed is hashed with SHA-512, so the order is the same in every process.
    order = list(items)
    random.Random(f"{SEED}-{key}").shuffle(order)
    return order


def _spread(
    respondents: Sequence[R], counts: Mapping[V, int], *, key: str, first: frozenset = frozenset()
) -> dict[R, list[V]]:
    """Give each option to exactly its count of respondents.

    Each option takes the next `count` places of a seeded shuffle of the respondents, wrapping
    around. The ranges tile the circle, so when the counts add up to at least the number of
    respondents everyone gets at least one option (a multi-select base stays whole), and when
    they add up to exactly that number everyone gets exactly one (a single choice). Respondents
    in `first` are moved to the front, to receive the first options."""
    order = _shuffled(respondents, key=key)
    order.sort(key=lambda respondent: respondent not in first)
    size = len(order)
    if sum(counts.values()) < size or max(counts.values()) > size:
        raise ValueError(f"{key}: counts {dict(counts)} cannot cover {size} respondents")
    chosen: dict[R, list[V]] = {respondent: [] for respondent in order}
    start = 0
    for value, count in counts.items():
        for place in range(start, start + count):
            chosen[order[place % size]].append(value)
        start += count
    return chosen


def _single(respondents: Sequence[R], counts: Mapping[V, int], *, key: str, **kw: Any) -> dict:
    if sum(counts.values()) != len(respondents):
        raise ValueError(f"{key}: counts must add up to {len(respondents)}")
    return {r: values[0] for r, values in _spread(respondents, counts, key=key, **kw).items()}


# The plan: who answers what ------------------------------------------------------------------


@dataclass
class RespondentsPlan:
    """Organisation indexes (into the external_id order) and their answer values."""

    complete: list[int]
    partial: list[int]
    opened_only: list[int]
    answers: dict[int, Answers]


def respondents_plan() -> RespondentsPlan:
    """Who among the demo organisations completed, stopped after page 2 or only opened the
    link, and each respondent's answers, so that the counts are exactly the published ones.
    The same plan on every call (seeded)."""
    order = _shuffled(range(sum(ORGANISATIONS_PER_COUNTRY.values())), key="participants")
    complete = order[:COMPLETE]
    partial = order[COMPLETE : COMPLETE + PARTIAL]
    opened_only = order[COMPLETE + PARTIAL : COMPLETE + PARTIAL + OPENED_ONLY]
    answers: dict[int, Answers] = {index: {} for index in complete + partial}

    for group, members, position in (("complete", complete, 0), ("partial", partial, 1)):
        for code, table in PAGE_1_2_CHOICES.items():
            counts = {value: pair[position] for value, pair in table.items() if pair[position]}
            key = f"{code}-{group}"
            if code in MULTIPLE:
                values: dict[int, Any] = _spread(members, counts, key=key)
            else:
                values = _single(members, counts, key=key)
            for index, value in values.items():
                answers[index][code] = value
        others = [i for i in members if SERVICES_OTHER in answers[i]["services_used"]]
        for n, index in enumerate(others):
            answers[index]["services_used-other"] = OTHER_SERVICES[n % len(OTHER_SERVICES)]

    for index, countries_chosen in _spread(complete, TARGET_COUNTRIES, key="targets").items():
        answers[index]["target_countries"] = countries_chosen
    cooperation = _single(complete, COOPERATION_OUTSIDE_EU, key="cooperation")
    cooperating = [index for index in complete if cooperation[index] == 1]
    ongoing = _spread(cooperating, COOPERATION_COUNTRIES, key="ongoing")
    for index in complete:
        answers[index]["cooperation_outside_eu"] = cooperation[index]
        if index in ongoing:
            answers[index]["cooperation_countries"] = ongoing[index]

    # Organisations younger than 2 years cannot have last updated their profile in 2017 or
    # earlier: they come first, and so answer 2019 (which they are the likeliest to).
    young = frozenset(i for i in complete if answers[i]["experience"] == 1)
    profile = _single(complete, PROFILE_UPDATED, key="profile", first=young)
    silent = _shuffled(complete, key="social-none")[:SOCIAL_MEDIA_NONE_COUNT]
    following = _spread([i for i in complete if i not in silent], SOCIAL_MEDIA, key="social")
    for index in complete:
        answers[index]["profile_updated"] = profile[index]
        answers[index]["social_media"] = following.get(index, [SOCIAL_MEDIA_NONE])

    writers = _shuffled(complete, key="texts")
    for index, text in zip(writers, ADDITIONAL_SERVICES, strict=False):
        answers[index]["additional_services"] = text
    # Some write both, most one of the two.
    for index, text in zip(writers[len(ADDITIONAL_SERVICES) // 2 :], SUGGESTIONS, strict=False):
        answers[index]["suggestions"] = text
    return RespondentsPlan(
        complete=complete, partial=partial, opened_only=opened_only, answers=answers
    )


# Organisations --------------------------------------------------------------------------------


def _external_id(index: int) -> str:
    return f"{EXTERNAL_ID_PREFIX}{index + 1:04d}"


def _organisation_rows(plan: RespondentsPlan) -> list[dict[str, Any]]:
    """Each demo organisation's fields, in external_id order. Founding years agree with the
    experience answers (counted to the survey's opening, 14 May 2019) and profile update dates
    with the profile answers."""
    sequence = _shuffled(
        [code for code, count in ORGANISATIONS_PER_COUNTRY.items() for _ in range(count)],
        key="countries",
    )
    rng = random.Random(f"{SEED}-organisations")
    per_country: dict[str, int] = {}
    rows = []
    for index, code in enumerate(sequence):
        number = per_country[code] = per_country.get(code, -1) + 1
        # Names stay unique while a country has at most len(THEMES) * len(KINDS) organisations.
        theme, sector = THEMES[(number + ord(code[0]) + ord(code[1])) % len(THEMES)]
        kind = KINDS[number // len(THEMES)]
        sectors = {sector}
        if rng.random() < 0.4:
            sectors.add(rng.choice(THEMES)[1])
        answers = plan.answers.get(index, {})
        year_founded = rng.randint(*FOUNDED_RANGES.get(answers.get("experience", 0), (1990, 2016)))
        rows.append(
            {
                "external_id": _external_id(index),
                "name": f"{theme} {kind} {countries.name(code)}",
                "country": code,
                "is_cosme": True,
                "year_founded": year_founded,
                "profile_updated_at": _profile_updated_at(
                    rng, answers.get("profile_updated", 0), year_founded
                ),
                "website": f"https://{_external_id(index)}.example.org/",
                "sectors": sorted(sectors),
                "contact_name": f"{FIRST_NAMES[index % 20]} {LAST_NAMES[(index * 7 + 3) % 20]}",
                "contact_email": f"contact@{_external_id(index)}.example.org",
            }
        )
    return rows


def _profile_updated_at(rng: random.Random, answer: int, year_founded: int) -> datetime:
    start, end = PROFILE_RANGES[answer]
    # Not before the organisation existed (the plan keeps young ones out of "2017 or earlier").
    start = max(start, date(year_founded, 1, 2))
    day = start + timedelta(days=rng.randint(0, max(0, (end - start).days)))
    return datetime.combine(day, time(rng.randint(8, 17), rng.randint(0, 59)), tzinfo=BRUSSELS)


def _organisations_upsert(*, plan: RespondentsPlan) -> list[ClusterOrganisation]:
    """Create or update the demo organisations by external_id, with one contact and their
    sectors each. Returns them in external_id order."""
    rows = _organisation_rows(plan)
    existing = {
        o.external_id: o
        for o in ClusterOrganisation.objects.filter(external_id__startswith=EXTERNAL_ID_PREFIX)
    }
    fields = ["name", "country", "is_cosme", "year_founded", "website", "profile_updated_at"]
    organisations = []
    for row in rows:
        organisation = existing.get(row["external_id"]) or ClusterOrganisation(
            external_id=row["external_id"]
        )
        for field in fields:
            setattr(organisation, field, row[field])
        organisations.append(organisation)
    ClusterOrganisation.objects.bulk_create([o for o in organisations if o.pk is None])
    ClusterOrganisation.objects.bulk_update(
        [o for o in organisations if o.external_id in existing], fields, batch_size=500
    )

    sector_names = sorted({name for row in rows for name in row["sectors"]})
    # The unique name decides: sectors that exist already stay as they are.
    Sector.objects.bulk_create([Sector(name=name) for name in sector_names], ignore_conflicts=True)
    sector_ids = dict(Sector.objects.filter(name__in=sector_names).values_list("name", "id"))
    through = ClusterOrganisation.sectors.through
    through.objects.filter(clusterorganisation__in=organisations).delete()
    through.objects.bulk_create(
        through(clusterorganisation_id=o.pk, sector_id=sector_ids[name])
        for o, row in zip(organisations, rows, strict=True)
        for name in row["sectors"]
    )

    have = set(
        Contact.objects.filter(
            organisation__in=organisations, email__in=[row["contact_email"] for row in rows]
        ).values_list("organisation_id", flat=True)
    )
    Contact.objects.bulk_create(
        Contact(organisation_id=o.pk, name=row["contact_name"], email=row["contact_email"])
        for o, row in zip(organisations, rows, strict=True)
        if o.pk not in have
    )
    return organisations


# Surveys --------------------------------------------------------------------------------------


def questionnaire_data() -> dict:
    """The eccp-2019 questionnaire file, parsed: what survey_import takes."""
    return survey_file_parse(QUESTIONNAIRE_FILE.read_bytes(), name=QUESTIONNAIRE_FILE.name)


def respondent_answer_rows(questionnaire: Questionnaire, answers: Answers) -> list[Answer]:
    """A planned respondent's answer rows, unsaved and without a response, made by the same
    answer_rows that a respondent's saved page goes through."""
    return [
        row
        for question in questionnaire.questions
        for row in answer_rows(question, answers.get(question.code), answers)
    ]


def _historic_survey_replace(*, data: dict) -> Survey:
    """Import eccp-2019 afresh. survey_import refuses to replace a survey with responses, and
    answers protect their questions and choices: remove answers, then invitations (and with
    them responses) first."""
    existing = Survey.objects.filter(slug=HISTORIC_SLUG).first()
    if existing is not None:
        Answer.objects.filter(response__survey=existing).delete()
        existing.invitations.all().delete()
    return survey_import(data=data, replace=True)


def _demo_survey_ensure(*, data: dict, now: datetime) -> tuple[Survey, bool]:
    existing = Survey.objects.filter(slug=DEMO_SLUG).first()
    if existing is not None:
        return existing, False
    demo = {
        **data,
        "slug": DEMO_SLUG,
        "title": f"{data['title']} (demo)",
        "status": Survey.Status.OPEN,
        "opens_at": now.isoformat(),
        "closes_at": (now + timedelta(days=DEMO_OPEN_DAYS)).isoformat(),
        "allow_edit_after_submit": True,
    }
    return survey_import(data=demo), True


def _historic_responses_create(
    *, survey: Survey, organisations: list[ClusterOrganisation], plan: RespondentsPlan
) -> int:
    """Invitations of every demo organisation, the responses and their answer rows, in bulk.
    Returns the number of invitations."""
    rng = random.Random(f"{SEED}-dates")
    questionnaire = questionnaire_load(survey)
    complete = set(plan.complete)

    invitations = [
        Invitation(survey=survey, organisation=o, created_at=survey.opens_at, **new_token_fields())
        for o in organisations
    ]
    started_at: dict[int, datetime] = {}
    for index in plan.complete + plan.partial + plan.opened_only:
        opened = _moment(rng, survey)
        invitations[index].first_opened_at = opened
        if index in plan.answers:
            started_at[index] = opened + timedelta(minutes=rng.randint(0, 5))
    Invitation.objects.bulk_create(invitations, batch_size=500)
    # Addressed to every contact not suppressed, as invitation_create does.
    invitation_ids = {invitation.organisation_id: invitation.pk for invitation in invitations}
    contacts = Contact.objects.filter(
        organisation__in=organisations, suppressed_at__isnull=True
    ).values_list("organisation_id", "id")
    through = Invitation.contacts.through
    through.objects.bulk_create(
        through(invitation_id=invitation_ids[organisation_id], contact_id=contact_id)
        for organisation_id, contact_id in contacts
    )

    responses = {}
    last_page = len(questionnaire.pages) + 1  # the review page, where a submitted response is
    for index, start in started_at.items():
        submitted = index in complete
        end = start + timedelta(minutes=rng.randint(6, 40) if submitted else rng.randint(2, 15))
        responses[index] = Response(
            invitation=invitations[index],
            survey=survey,
            started_at=start,
            last_saved_at=end,
            submitted_at=end if submitted else None,
            current_page=last_page if submitted else PARTIAL_CURRENT_PAGE,
        )
    Response.objects.bulk_create(responses.values(), batch_size=500)

    rows = []
    for index, response in responses.items():
        for row in respondent_answer_rows(questionnaire, plan.answers[index]):
            row.response = response
            rows.append(row)
    Answer.objects.bulk_create(rows, batch_size=1000)
    _historic_outreach_create(survey=survey, invitations=invitations, responses=responses)
    return len(invitations)


def _historic_outreach_create(
    *, survey: Survey, invitations: list[Invitation], responses: dict[int, Response]
) -> None:
    """The 2019 history as records (no email is sent): one wave on 14 May, then reminders on
    each later send date to those who had not completed by then."""
    invitation_send, *reminder_sends = [moment for moment, _ in SENDS]
    wave = Wave.objects.create(
        survey=survey,
        name="Invitation, 14 May 2019",
        status=Wave.Status.LAUNCHED,
        launched_at=invitation_send,
    )
    contacts = list(
        Invitation.contacts.through.objects.filter(invitation__in=invitations).values_list(
            "invitation_id", "contact_id"
        )
    )
    deliveries = [
        Delivery(
            invitation_id=invitation_id,
            contact_id=contact_id,
            wave=wave,
            kind=Delivery.Kind.INVITATION,
            status=Delivery.Status.SENT,
            attempts=1,
            next_attempt_at=invitation_send,
            sent_at=invitation_send,
            created_at=invitation_send,
        )
        for invitation_id, contact_id in contacts
    ]
    submitted_at = {
        invitations[index].pk: response.submitted_at for index, response in responses.items()
    }
    reminders_sent: dict[int, int] = {}
    for number, moment in enumerate(reminder_sends, start=1):
        for invitation_id, contact_id in contacts:
            done = submitted_at.get(invitation_id)
            if done is not None and done <= moment:
                continue
            reminders_sent[invitation_id] = number
            deliveries.append(
                Delivery(
                    invitation_id=invitation_id,
                    contact_id=contact_id,
                    kind=Delivery.Kind.REMINDER,
                    reminder_number=number,
                    status=Delivery.Status.SENT,
                    attempts=1,
                    next_attempt_at=moment,
                    sent_at=moment,
                    created_at=moment,
                )
            )
    Delivery.objects.bulk_create(deliveries, batch_size=2000)
    for invitation in invitations:
        invitation.reminders_sent = reminders_sent.get(invitation.pk, 0)
    Invitation.objects.bulk_update(invitations, ["reminders_sent"], batch_size=2000)


def _demo_wave_ensure(
    *, survey: Survey, organisations: list[ClusterOrganisation], now: datetime
) -> None:
    """eccp-demo's invitations go out for real, through the configured email backend, once:
    the wave is launched on the first load (its emails are queued for the worker)."""
    if Wave.objects.filter(survey=survey).exists():
        return
    wave = wave_create(
        survey=survey,
        name="Demo invitations",
        filters={"external_ids": [o.external_id for o in organisations]},
    )
    wave_launch(wave=wave, now=now)


def _moment(rng: random.Random, survey: Survey) -> datetime:
    """A time when someone opened the link: hours after a send, before the survey closed
    (with room for a 45-minute session)."""
    send = rng.choices([s for s, _ in SENDS], weights=[w for _, w in SENDS])[0]
    moment = send + timedelta(minutes=5 + rng.expovariate(1 / (36 * 60)))
    return min(moment, survey.closes_at - timedelta(hours=1))
