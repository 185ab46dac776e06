"""bench/datagen.py: the COPY-built bench survey is data the application accepts: counts as the
shape says, every question type answered, valid links, consistent keys, indexes and triggers
back after the load."""

import sys
from pathlib import Path

import pytest
from django.db import IntegrityError, connection, transaction

from surveys.models import Answer, Delivery, Invitation, QuestionType, Response
from surveys.questionnaire.invitations import invitation_get_by_token, invitation_token_from_nonce

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import datagen

SHAPE = datagen.BenchShape(invitations=400, started=0.6, complete=0.5, opened_only=0.05)


def _index_names(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
        return {name for (name,) in cursor.fetchall()}


@pytest.fixture
def built(db, require_postgresql, monkeypatch):
    # Rebuild the indexes even at this size, so that the drop-and-rebuild path runs too.
    monkeypatch.setattr(datagen, "INDEX_REBUILD_MIN_ROWS", 0)
    return datagen.bench_survey_build(slug="bench-test", shape=SHAPE, vacuum=False)


def test_counts_are_those_of_the_shape_and_in_the_database(built):
    survey, counts = built
    assert counts.invitations == Invitation.objects.filter(survey=survey).count() == 400
    responses = Response.objects.filter(survey=survey)
    assert counts.responses == responses.count()
    assert counts.complete == responses.filter(submitted_at__isnull=False).count()
    # Shares drawn at random: within a wide margin of 60% started, 50% complete.
    assert 190 <= counts.responses <= 290
    assert 150 <= counts.complete <= 250
    assert counts.answers == Answer.objects.filter(response__survey=survey).count()
    assert counts.deliveries == Delivery.objects.filter(invitation__survey=survey).count()
    # Every partial response stopped on page 3 with answers of pages 1 and 2 only.
    partial = responses.filter(submitted_at__isnull=True)
    assert set(partial.values_list("current_page", flat=True)) == {3}
    first_two_pages = list(survey.pages.order_by("order", "pk")[:2])
    answered_pages = set(
        Answer.objects.filter(response__in=partial).values_list("question__page", flat=True)
    )
    assert answered_pages == {page.pk for page in first_two_pages}


def test_every_question_type_has_answer_rows(built):
    survey, _ = built
    answered = set(
        Answer.objects.filter(response__survey=survey).values_list("question__type", flat=True)
    )
    assert answered == set(QuestionType.values)


def test_invitation_links_open_their_invitation_and_have_one_contact(built):
    survey, _ = built
    for invitation in Invitation.objects.filter(survey=survey)[:20]:
        token = invitation_token_from_nonce(invitation.token_nonce)
        assert invitation_get_by_token(token=token) == invitation
        assert [c.organisation_id for c in invitation.contacts.all()] == [
            invitation.organisation_id
        ]


def test_reminders_go_only_to_those_not_complete_by_then(built):
    survey, _ = built
    reminders = Delivery.objects.filter(invitation__survey=survey, kind=Delivery.Kind.REMINDER)
    assert reminders.exists()
    for reminder in reminders.select_related("invitation__response")[:200]:
        response = getattr(reminder.invitation, "response", None)
        if response is not None and response.submitted_at is not None:
            assert response.submitted_at > reminder.sent_at


def test_indexes_and_foreign_key_checks_are_back_after_the_load(built):
    assert {"answer_choice_once", "answer_stats_groups_idx", "delivery_once_per_wave"} <= (
        _index_names("surveys_answer") | _index_names("surveys_delivery")
    )
    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"
    survey, _ = built
    question = survey.questions.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Answer.objects.create(response_id=10**12, question=question, text="orphan")
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_a_rebuild_replaces_the_previous_survey(built):
    survey, _ = built
    again, counts = datagen.bench_survey_build(
        slug="bench-test", shape=datagen.BenchShape(invitations=50), vacuum=False
    )
    assert again.pk != survey.pk
    assert Invitation.objects.filter(survey__slug="bench-test").count() == 50
    assert not Invitation.objects.filter(organisation__external_id="bench-test-60").exists()
    assert counts.organisations == 50
