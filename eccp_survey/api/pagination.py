"""Cursor pagination on every list: stable under inserts, and as fast on page 1,000 as on page 1
(a WHERE on the ordering key, never an OFFSET over skipped rows)."""

from rest_framework.pagination import CursorPagination


class ApiCursorPagination(CursorPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "-id"
