"""Fields and columns by name, for the few statements written as SQL (bulk writes)."""

from django.core.exceptions import FieldDoesNotExist
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model


def concrete_field(model: type[Model], name: str) -> Field:
    """The field `name` stored in the model's table. `_meta.get_field` may also return a
    reverse relation, which has no column."""
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise FieldDoesNotExist(f"{model.__name__}.{name} is not stored in a column")
    return field


def column_name(field: Field) -> str:
    """The field's column; every concrete field has one (a virtual field has None)."""
    if field.column is None:
        raise FieldDoesNotExist(f"{field} is not stored in a column")
    return field.column


def column_type(field: Field, connection: BaseDatabaseWrapper) -> str:
    """The field's column type on this database (a virtual field has None)."""
    db_type = field.db_type(connection)
    if db_type is None:
        raise FieldDoesNotExist(f"{field} is not stored in a column")
    return db_type
