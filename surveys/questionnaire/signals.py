"""Signal receivers: Survey.structure_version stays current (any change to a page, question,
choice or matrix statement makes cached questionnaires stale)."""

from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from surveys.models import Choice, MatrixStatement, Page, Question, Survey


def _survey_id(instance: object) -> int | None:
    if isinstance(instance, Page | Question):
        return instance.survey_id
    if isinstance(instance, Choice | MatrixStatement):
        return (
            Question.objects.filter(pk=instance.question_id)
            .values_list("survey_id", flat=True)
            .first()
        )
    return None


@receiver([post_save, post_delete], sender=Page)
@receiver([post_save, post_delete], sender=Question)
@receiver([post_save, post_delete], sender=Choice)
@receiver([post_save, post_delete], sender=MatrixStatement)
def survey_structure_changed(sender: type, instance: object, **kwargs: object) -> None:
    survey_id = _survey_id(instance)
    if survey_id is not None:
        Survey.objects.filter(pk=survey_id).update(structure_version=F("structure_version") + 1)
