"""Changelist parts that keep a list of a million rows cheap: counting and the date hierarchy.

Django's changelist counts every matching row for its paginator (``COUNT(*)`` over the whole
table on the default page) and builds the date hierarchy from ``SELECT DISTINCT`` truncated
dates, another full scan. Here:

* :class:`EstimatingPaginator` counts exactly up to :data:`EXACT_COUNT_LIMIT` rows (a
  ``LIMIT``-ed count stops there); beyond, on PostgreSQL, it takes the planner's estimate
  (``EXPLAIN``), and the page says the number is an estimate. Other databases count exactly.
* :meth:`IndexFriendlyChangeList.st_date_hierarchy` offers every year (month, day) between the
  first and the last matching row: ``MIN``/``MAX`` read the two ends of the date's index, so a
  period without rows may be offered (it lists nothing).
"""

from __future__ import annotations

import datetime
import json
from typing import Any, cast

from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Max, Min, QuerySet
from django.http import HttpRequest
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.text import capfirst
from django.utils.translation import gettext as _

#: Up to this many matching rows, the paginator's count is exact.
EXACT_COUNT_LIMIT = 10_000


def planner_estimate(queryset: QuerySet[Any]) -> int | None:
    """PostgreSQL's estimate of the number of rows ``queryset`` matches (its primary keys, or
    the ``values()`` it already selects); ``None`` elsewhere."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = _countable(queryset).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def bounded_count(queryset: QuerySet[Any]) -> tuple[int, bool]:
    """``(count, estimated)``: exact up to :data:`EXACT_COUNT_LIMIT` rows (a ``LIMIT``-ed count
    stops there); beyond, on PostgreSQL, the planner's estimate. Other databases count exactly."""
    if connections[queryset.db].vendor != "postgresql":
        return int(queryset.count()), False
    capped = int(_countable(queryset)[: EXACT_COUNT_LIMIT + 1].count())
    if capped <= EXACT_COUNT_LIMIT:
        return capped, False
    return max(planner_estimate(queryset) or 0, capped), True


def _countable(queryset: QuerySet[Any]) -> QuerySet[Any]:
    # Unordered, and only the primary key unless ``values()`` already chose the columns (a
    # ``DISTINCT`` over them is what is counted then).
    queryset = queryset.order_by()
    return queryset if queryset.query.values_select else queryset.values("pk")


class EstimatingPaginator(Paginator):
    """Exact up to :data:`EXACT_COUNT_LIMIT`; beyond that, the planner's estimate."""

    estimated = False
    exact_limit = EXACT_COUNT_LIMIT

    @cached_property
    def count(self) -> int:
        count, self.estimated = bounded_count(cast("QuerySet[Any]", self.object_list))
        return count


class IndexFriendlyChangeList(ChangeList):
    """A ``ChangeList`` that defers ``deferred`` and offers :attr:`st_date_hierarchy`."""

    deferred: tuple[str, ...] = ()

    def get_queryset(self, request: HttpRequest, *args: Any, **kwargs: Any) -> QuerySet[Any]:
        queryset = super().get_queryset(request, *args, **kwargs)
        return queryset.defer(*self.deferred) if self.deferred else queryset

    @cached_property
    def st_date_hierarchy(self) -> dict[str, Any]:
        """The context of ``admin/date_hierarchy.html``, as Django's tag builds it."""
        name = self.date_hierarchy
        year = self.params.get(f"{name}__year")
        month = self.params.get(f"{name}__month")
        day = self.params.get(f"{name}__day")

        def link(filters: dict[str, Any]) -> str:
            return str(self.get_query_string(filters, [f"{name}__"]))

        if year and month and day:
            date = datetime.date(int(year), int(month), int(day))
            return {
                "show": True,
                "back": {
                    "link": link({f"{name}__year": year, f"{name}__month": month}),
                    "title": capfirst(formats.date_format(date, "YEAR_MONTH_FORMAT")),
                },
                "choices": [{"title": capfirst(formats.date_format(date, "MONTH_DAY_FORMAT"))}],
            }
        bounds = self.queryset.aggregate(first=Min(name), last=Max(name))
        first, last = bounds["first"], bounds["last"]
        if first is None or last is None:
            return {"show": True, "back": None, "choices": []}
        if timezone.is_aware(first):
            first, last = timezone.localtime(first), timezone.localtime(last)
        if not year and first.year == last.year:
            year = str(first.year)
            if first.month == last.month:
                month = str(first.month)
        if year and month:
            return {
                "show": True,
                "back": {"link": link({f"{name}__year": year}), "title": str(year)},
                "choices": [
                    {
                        "link": link(
                            {f"{name}__year": year, f"{name}__month": month, f"{name}__day": d}
                        ),
                        "title": capfirst(
                            formats.date_format(
                                datetime.date(int(year), int(month), d), "MONTH_DAY_FORMAT"
                            )
                        ),
                    }
                    for d in range(first.day, last.day + 1)
                ],
            }
        if year:
            return {
                "show": True,
                "back": {"link": link({}), "title": _("All dates")},
                "choices": [
                    {
                        "link": link({f"{name}__year": year, f"{name}__month": m}),
                        "title": capfirst(
                            formats.date_format(datetime.date(int(year), m, 1), "YEAR_MONTH_FORMAT")
                        ),
                    }
                    for m in range(first.month, last.month + 1)
                ],
            }
        return {
            "show": True,
            "back": None,
            "choices": [
                {"link": link({f"{name}__year": str(y)}), "title": str(y)}
                for y in range(first.year, last.year + 1)
            ],
        }


class LargeTableAdminMixin:
    """The changelist, paginator and search shared by the admins of tables that grow to
    millions of rows (sessions, revoked sessions): no full ``COUNT(*)``, exact indexed search."""

    changelist_class: type[ChangeList] = IndexFriendlyChangeList
    #: The column searched for an IP address, or ``None`` when the table keeps none.
    search_ip_field: str | None = None

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return self.changelist_class

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet[Any],
        per_page: int,
        *args: Any,
        **kwargs: Any,
    ) -> EstimatingPaginator:
        return EstimatingPaginator(queryset, per_page, *args, **kwargs)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        from .search import search_sessions

        return search_sessions(queryset, search_term, ip_field=self.search_ip_field), False
