"""Changing and deleting one contact (the contacts API; the organisation admin's inline does the
same through the admin). The values are checked as the organisation import checks them."""

from django.db import transaction

from surveys.models import Contact
from surveys.organisations.importing.planning import contact_cells_checked


class ContactError(Exception):
    """The contact cannot be changed as asked; `field` names the value at fault."""

    def __init__(self, message: str, *, field: str | None = None, conflict: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.conflict = conflict


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    email: str | None = None,
    name: str | None = None,
    language: str | None = None,
) -> Contact:
    """Change the values given (None: unchanged), checked as the import checks a row's contact
    cells. An email already held by another contact of the same organisation is a conflict
    (the database's unique constraint, compared case-insensitively, says the same)."""
    cells = {
        "email": (contact.email if email is None else email).strip(),
        "contact_name": (contact.name if name is None else name).strip(),
        "language": (contact.language if language is None else language).strip(),
    }
    values, problems = contact_cells_checked(cells)
    if problems:
        first = problems[0].split(" ", 1)[0]
        field = {"email": "email", "contact_name": "name"}.get(first, "language")
        raise ContactError("; ".join(problems), field=field)
    taken = (
        Contact.objects.filter(
            organisation_id=contact.organisation_id, email__iexact=values["email"]
        )
        .exclude(pk=contact.pk)
        .exists()
    )
    if taken:
        raise ContactError(
            f"email {values['email']!r} is another contact of this organisation",
            field="email",
            conflict=True,
        )
    contact.email = values["email"]
    contact.name = values["name"]
    contact.language = values.get("language", contact.language)
    contact.save(update_fields=["email", "name", "language"])
    return contact


def contact_delete(*, contact: Contact) -> None:
    """Delete the contact; the records of its emails (deliveries) go with it, as in the admin."""
    contact.delete()
