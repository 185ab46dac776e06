"""The personal link, multi-page answering, save and resume, review, submit."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django.utils import timezone

from surveys.models import Answer, Invitation, Response, Survey
from surveys.questionnaire.invitations import invitation_token
from tests.factories import invitation_with_token, open_survey
from tests.support.respondent import ALL_TYPES_ANSWERS, Respondent

pytestmark = pytest.mark.django_db


@pytest.fixture
def survey() -> Survey:
    return open_survey()


@pytest.fixture
def respondent(client: Client, survey: Survey) -> Respondent:
    invitation, token = invitation_with_token(survey)
    person = Respondent(client, invitation)
    person.open_link(token)
    return person


def test_personal_link_is_exchanged_for_a_token_free_url(client, survey):
    invitation, token = invitation_with_token(survey)
    response = client.get(f"/s/{token}/")
    assert response.status_code == 302
    assert response["Location"] == f"/respond/{invitation.public_id}/"
    assert token not in response["Location"]
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    invitation.refresh_from_db()
    assert invitation.first_opened_at is not None

    welcome = client.get(response["Location"])
    assert welcome.status_code == 200
    assert invitation.organisation.name in welcome.content.decode()
    # Token-free pages may send a referrer to our own site only (CSRF needs the Origin).
    assert welcome["Referrer-Policy"] == "same-origin"


def test_first_opening_is_kept_when_the_link_is_opened_again(client, survey):
    invitation, token = invitation_with_token(survey)
    client.get(f"/s/{token}/")
    invitation.refresh_from_db()
    first = invitation.first_opened_at
    Client().get(f"/s/{token}/")
    invitation.refresh_from_db()
    assert invitation.first_opened_at == first


@pytest.mark.parametrize("token", ["nonsense", "A" * 43, "../../etc/passwd", "%00", "x" * 500])
def test_unknown_or_malformed_token_is_a_404_that_reveals_nothing(client, survey, token):
    response = client.get(f"/s/{token}/")
    assert response.status_code == 404
    body = response.content.decode()
    assert survey.title not in body
    assert "Traceback" not in body


def test_token_free_pages_need_the_session_that_opened_the_link(survey):
    invitation, _ = invitation_with_token(survey)
    stranger = Client()
    response = stranger.get(f"/respond/{invitation.public_id}/page/1/")
    assert response.status_code == 403
    assert "personal link" in response.content.decode()
    response = stranger.post(f"/respond/{invitation.public_id}/page/1/", {"size": "1"})
    assert response.status_code == 403
    assert not Response.objects.exists()


def test_one_browser_with_two_organisations_keeps_them_apart(client, survey):
    first, first_token = invitation_with_token(survey)
    second, second_token = invitation_with_token(survey)
    client.get(f"/s/{first_token}/")
    client.get(f"/s/{second_token}/")
    Respondent(client, first).post_page(1, ALL_TYPES_ANSWERS[1])
    Respondent(client, second).post_page(1, {**ALL_TYPES_ANSWERS[1], "size": "3"})

    assert Response.objects.count() == 2
    size_of = {
        a.response.invitation_id: a.choice.value
        for a in Answer.objects.filter(question__code="size").select_related("response", "choice")
    }
    assert size_of == {first.pk: 2, second.pk: 3}
    page = Respondent(client, first).page(1).content.decode()
    assert 'value="2" id="id_size_1" checked' in page


def test_a_planted_session_id_does_not_survive_opening_a_link(client, survey):
    invitation, token = invitation_with_token(survey)
    # An attacker's own session id, planted in the respondent's browser (session fixation).
    attacker = Client()
    attacker.get("/health/")
    store = SessionStore()
    store.create()
    planted = str(store.session_key)
    client.cookies[settings.SESSION_COOKIE_NAME] = planted
    attacker.cookies[settings.SESSION_COOKIE_NAME] = planted

    client.get(f"/s/{token}/")

    assert client.cookies[settings.SESSION_COOKIE_NAME].value != planted
    assert not SessionStore().exists(planted)
    assert Respondent(client, invitation).page(1).status_code == 200
    assert Respondent(attacker, invitation).page(1).status_code == 403


def test_a_new_session_key_keeps_the_invitations_opened_before(client, survey):
    first, first_token = invitation_with_token(survey)
    second, second_token = invitation_with_token(survey)
    client.get(f"/s/{first_token}/")
    key_after_first = client.cookies[settings.SESSION_COOKIE_NAME].value

    client.get(f"/s/{second_token}/")

    assert client.cookies[settings.SESSION_COOKIE_NAME].value != key_after_first
    assert Respondent(client, first).page(1).status_code == 200
    assert Respondent(client, second).page(1).status_code == 200


def test_save_and_resume_at_the_same_page_with_answers_filled_in(survey):
    invitation, token = invitation_with_token(survey)
    browser = Client()
    person = Respondent(browser, invitation)
    person.open_link(token)
    assert person.post_page(1, ALL_TYPES_ANSWERS[1])["Location"].endswith("/page/2/")
    response = person.post_page(2, {"quality": "4"}, action="save")
    assert response.status_code == 200
    assert "Your answers are saved" in response.content.decode()

    # The browser is closed: a new one opens the link again.
    later = Client()
    resumed = Respondent(later, invitation)
    entry = resumed.open_link(token)
    landing = later.get(entry["Location"])
    assert landing.status_code == 302
    assert landing["Location"].endswith("/page/2/")
    page = later.get(landing["Location"]).content.decode()
    assert 'name="quality" value="4" id="id_quality_3" checked' in page
    first_page = resumed.page(1).content.decode()
    assert 'value="Webinars"' in first_page
    assert 'name="founded" value="1999"' in first_page


def test_required_answers_are_asked_for_on_next_but_not_on_save(respondent):
    response = respondent.post_page(1, {})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="error-summary"' in body
    assert "Please answer this question." in body
    assert not Response.objects.exists()

    saved = respondent.post_page(1, {"founded": "2001"}, action="save")
    assert saved.status_code == 200
    assert Answer.objects.get(question__code="founded").number == 2001


def test_previous_saves_the_page_and_goes_back(respondent):
    respondent.post_page(1, ALL_TYPES_ANSWERS[1])
    response = respondent.post_page(2, {"quality": "2"}, action="previous")
    assert response["Location"].endswith("/page/1/")
    assert Answer.objects.get(question__code="quality").choice.value == 2


def test_review_then_submit_then_thanks_then_read_only(respondent):
    respondent.answer_all()
    review = respondent.review()
    assert review.status_code == 200
    body = review.content.decode()
    for expected in ["10 to 49", "Other: Webinars", "1. Partners", "Canada", "More events"]:
        assert expected in body

    submitted = respondent.submit()
    assert submitted["Location"].endswith("/thanks/")
    response = Response.objects.get()
    assert response.submitted_at is not None
    thanks = respondent.client.get(submitted["Location"])
    assert "Thank you" in thanks.content.decode()

    # The link now says the response is submitted and offers a read-only copy; pages cannot
    # be changed.
    landing = respondent.client.get(respondent.base + "/").content.decode()
    assert "You have already submitted your response" in landing
    assert "Change your answers" not in landing
    copy = respondent.client.get(respondent.base + "/answers/").content.decode()
    assert "More events" in copy and "<form" not in copy
    changed = respondent.post_page(4, {"suggestions": "Changed"})
    assert changed.status_code == 302
    assert Answer.objects.get(question__code="suggestions").text == "More events"


def test_submitted_answers_can_be_edited_until_closing_when_allowed(client):
    survey = open_survey(allow_edit_after_submit=True)
    invitation, token = invitation_with_token(survey)
    person = Respondent(client, invitation)
    person.open_link(token)
    person.answer_all()
    person.submit()
    submitted_at = Response.objects.get().submitted_at

    assert person.post_page(4, {"suggestions": "Changed"}).status_code == 302
    assert Answer.objects.get(question__code="suggestions").text == "Changed"
    assert person.submit()["Location"].endswith("/thanks/")
    assert Response.objects.get().submitted_at == submitted_at


def test_submit_with_a_required_answer_missing_points_to_the_page(respondent):
    respondent.post_page(1, ALL_TYPES_ANSWERS[1])
    response = respondent.submit()
    assert response.status_code == 400
    body = response.content.decode()
    assert "Page 2: Opinions" in body
    assert Response.objects.get().submitted_at is None


def test_survey_not_yet_open_shows_an_explanation(client):
    now = timezone.now()
    survey = open_survey(
        opens_at=(now + timedelta(days=3)).isoformat(),
        closes_at=(now + timedelta(days=30)).isoformat(),
    )
    invitation, token = invitation_with_token(survey)
    landing = client.get(client.get(f"/s/{token}/")["Location"])
    assert landing.status_code == 200
    assert "not open yet" in landing.content.decode()
    posted = Respondent(client, invitation).post_page(1, ALL_TYPES_ANSWERS[1])
    assert "not open yet" in posted.content.decode()
    assert not Response.objects.exists()


def test_closed_survey_shows_an_explanation_and_saves_nothing(client, survey, respondent):
    respondent.post_page(1, ALL_TYPES_ANSWERS[1])
    survey.closes_at = timezone.now() - timedelta(minutes=1)
    survey.opens_at = survey.closes_at - timedelta(days=10)
    survey.save()
    landing = respondent.client.get(respondent.base + "/")
    assert landing.status_code == 200
    assert "This survey is closed" in landing.content.decode()
    posted = respondent.post_page(2, ALL_TYPES_ANSWERS[2])
    assert "This survey is closed" in posted.content.decode()
    assert not Answer.objects.filter(question__code="quality").exists()


def test_draft_survey_is_not_available(client):
    survey = open_survey(status="draft")
    _, token = invitation_with_token(survey)
    landing = client.get(client.get(f"/s/{token}/")["Location"])
    assert "not available yet" in landing.content.decode()


def test_page_number_out_of_range_is_404(respondent):
    assert respondent.page(99).status_code == 404
    assert respondent.page(0).status_code == 404


def test_link_can_be_rebuilt_from_the_stored_nonce(survey):
    invitation, token = invitation_with_token(survey)
    assert invitation_token(Invitation.objects.get(pk=invitation.pk)) == token


def test_a_refused_change_keeps_the_answer_saved_before_and_saves_the_valid_ones(respondent):
    respondent.post_page(1, ALL_TYPES_ANSWERS[1])
    response = respondent.post_page(1, {**ALL_TYPES_ANSWERS[1], "size": "7", "founded": "2001"})
    assert response.status_code == 400
    assert "Your other answers on this page are saved." in response.content.decode()
    # The valid change is saved; the refused one leaves the earlier answer in place.
    assert Answer.objects.get(question__code="founded").number == 2001
    assert Answer.objects.get(question__code="size").choice.value == 2
    # Where the respondent resumes does not move.
    assert Response.objects.get().current_page == 2


def test_a_first_page_refused_entirely_starts_nothing(respondent):
    response = respondent.post_page(1, {"size": "7"})
    assert response.status_code == 400
    assert "Your other answers on this page are saved." not in response.content.decode()
    assert not Response.objects.exists()


def test_the_link_opened_after_submitting_says_so_and_offers_the_copy(client):
    survey = open_survey(allow_edit_after_submit=True)
    invitation, token = invitation_with_token(survey)
    person = Respondent(client, invitation)
    person.open_link(token)
    person.answer_all()
    person.submit()

    landing = client.get(client.get(f"/s/{token}/")["Location"])
    assert landing.status_code == 200
    body = landing.content.decode()
    assert "You have already submitted your response" in body
    assert f'href="/respond/{invitation.public_id}/answers/"' in body
    # Edits are allowed here: offered as a link, not by landing on the review step.
    assert f'href="/respond/{invitation.public_id}/review/"' in body
    assert "Submit my response" not in body and "<form" not in body


def test_review_and_copy_keep_the_line_breaks_of_long_answers(client):
    survey = open_survey()
    invitation, token = invitation_with_token(survey)
    person = Respondent(client, invitation)
    person.open_link(token)
    person.answer_all(
        {**ALL_TYPES_ANSWERS, 4: {**ALL_TYPES_ANSWERS[4], "suggestions": "First line\r\nSecond"}}
    )
    assert "First line<br>Second" in person.review().content.decode()
    person.submit()
    assert "First line<br>Second" in client.get(person.base + "/answers/").content.decode()
