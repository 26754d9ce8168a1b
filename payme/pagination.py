from rest_framework.pagination import CursorPagination, PageNumberPagination


class DefaultPagination(PageNumberPagination):
    """Page-number pagination for lists that people browse; ``?page_size=`` up to 100."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class NewestFirstCursorPagination(CursorPagination):
    """Cursor pagination on the primary key, newest first.

    Unlike page numbers, a cursor does not shift when new rows are inserted while a client
    walks the list, so a ledger read page by page never shows an entry twice or skips one.
    """

    ordering = "-id"
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class NewestFirstByTimeCursorPagination(NewestFirstCursorPagination):
    """Cursor on created_at (ties broken by offset): no COUNT(*), so a page costs the same at
    100,000 rows as at 1,000, and it stays stable while new rows arrive."""

    ordering = ("-created_at", "-id")
