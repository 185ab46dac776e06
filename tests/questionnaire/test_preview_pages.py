"""The staff preview's own pages: the end of the preview, and a survey without pages."""

from datetime import timedelta

from django.utils import timezone

from surveys.models import Response, Survey
from tests.factories import open_survey


def test_next_on_the_last_page_ends_the_preview(client, staff_member):
    survey = open_survey()
    client.force_login(staff_member)

    # Page 4 of all_types.yaml has no required question.
    end = client.post(f"/staff/surveys/{survey.slug}/preview/4/", {"action": "next"})

    assert end.status_code == 200
    body = end.content.decode()
    assert "End of the preview" in body
    assert "Nothing you entered here was saved." in body
    assert f'href="/staff/surveys/{survey.slug}/preview/"' in body  # the first page
    assert f'href="/staff/surveys/{survey.slug}/preview/4/"' in body  # the last page
    assert f'href="/admin/surveys/survey/{survey.pk}/change/"' in body
    assert not Response.objects.exists()


def _empty_survey() -> Survey:
    now = timezone.now()
    return Survey.objects.create(
        title="Nothing yet",
        slug="nothing-yet",
        opens_at=now,
        closes_at=now + timedelta(days=1),
    )


def test_a_survey_without_pages_says_how_to_add_them(client, staff_member):
    survey = _empty_survey()
    client.force_login(staff_member)

    page = client.get(f"/staff/surveys/{survey.slug}/preview/")

    assert page.status_code == 200
    body = page.content.decode()
    assert "This survey has no pages yet" in body
    assert f'href="/admin/surveys/page/add/?survey={survey.pk}"' in body
    assert "import_survey" in body


def test_a_viewer_is_not_offered_to_add_pages(client, viewer_member):
    survey = _empty_survey()
    client.force_login(viewer_member)

    body = client.get(f"/staff/surveys/{survey.slug}/preview/").content.decode()

    assert "This survey has no pages yet" in body
    assert "/admin/surveys/page/add/" not in body
