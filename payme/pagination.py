from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination, PageNumberPagination

from payme.errors import ValidationFailed


def _bad_query_parameter(name: str, message: str) -> ValidationFailed:
    # A query parameter the client got wrong is bad input (400, the parameter named), not a
    # missing resource: DRF answers 404 for both (issue #13).
    return ValidationFailed(f"Some fields are not valid: {name}.", fields={name: [message]})


class DefaultPagination(PageNumberPagination):
    """Page-number pagination for lists that people browse; ``?page_size=`` up to 100."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound:
            raise _bad_query_parameter(self.page_query_param, "No such page: a page number from 1 to the last page.") from None


class NewestFirstCursorPagination(CursorPagination):
    """Cursor pagination on the primary key, newest first.

    Unlike page numbers, a cursor does not shift when new rows are inserted while a client
    walks the list, so a ledger read page by page never shows an entry twice or skips one.
    """

    ordering = "-id"
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset, request, view=None):
        self._check_cursor(queryset, request)
        return super().paginate_queryset(queryset, request, view)

    def _check_cursor(self, queryset, request):
        """Refuse a cursor that does not decode, or whose position is not a value of the ordering
        field (it would fail in the filter, or overflow the column on PostgreSQL), with a 400."""
        if request.query_params.get(self.cursor_query_param) is None:
            return
        bad = _bad_query_parameter(self.cursor_query_param, "Not a cursor from this list: follow `next` or `previous` as given.")
        try:
            cursor = self.decode_cursor(request)
        except NotFound:
            raise bad from None
        if cursor.position is None:
            return
        ordering = self.ordering if isinstance(self.ordering, str) else self.ordering[0]
        field = queryset.model._meta.get_field(ordering.lstrip("-"))
        try:
            value = field.to_python(cursor.position)
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            raise bad from None
        if value is None or (isinstance(value, int) and not -(2**63) <= value < 2**63):
            raise bad


class NewestFirstByTimeCursorPagination(NewestFirstCursorPagination):
    """Cursor on created_at (ties broken by offset): no COUNT(*), so a page costs the same at
    100,000 rows as at 1,000, and it stays stable while new rows arrive."""

    ordering = ("-created_at", "-id")
