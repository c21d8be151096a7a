"""The filters every report takes: date range, category, model version, language.

Bad input raises FilterError naming the parameter; views answer it with a 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, overload
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone

from triage.models import Category, DecisionFact, ModelVersion

LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,4})?$")
VERSION_NUMBER = re.compile(r"[0-9]{1,9}")
MIN_YEAR, MAX_YEAR = 2000, 2100


class FilterError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ReportFilter:
    start: date
    end: date
    category: Category | None = None
    version: ModelVersion | None = None
    language: str = ""

    def facts(self) -> QuerySet[DecisionFact]:
        """Facts in range. A category keeps tickets it was suggested for or chosen for,
        so its precision (suggested) and recall (chosen) both stay computable."""
        return DecisionFact.objects.filter(self.q())

    def q(self, prefix: str = "") -> Q:
        """The filter as a Q on DecisionFact, or through a relation (`prefix="decision__fact__"`)."""
        q = Q(**{f"{prefix}day__gte": self.start, f"{prefix}day__lte": self.end})
        if self.category is not None:
            q &= Q(**{f"{prefix}suggested": self.category}) | Q(**{f"{prefix}chosen": self.category})
        if self.version is not None:
            q &= Q(**{f"{prefix}model_version": self.version})
        if self.language:
            q &= Q(**{f"{prefix}language": self.language})
        return q

    def params(self) -> dict[str, str]:
        params = {"from": self.start.isoformat(), "to": self.end.isoformat()}
        if self.category is not None:
            params["category"] = self.category.slug
        if self.version is not None:
            params["version"] = str(self.version.version)
        if self.language:
            params["language"] = self.language
        return params

    def querystring(self) -> str:
        return urlencode(self.params())

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _date(params: QueryDict, field: str, default: date) -> date:
    raw = params.get(field, "").strip()
    if not raw:
        return default
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise FilterError(field, f"{raw!r} is not a date (use YYYY-MM-DD)") from None
    # Far-off years would overflow the date arithmetic of the reports.
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise FilterError(field, f"{raw!r} is out of range (years {MIN_YEAR} to {MAX_YEAR})")
    return value


@overload
def category_from(params: QueryDict, field: str, *, required: Literal[True]) -> Category: ...
@overload
def category_from(params: QueryDict, field: str, *, required: Literal[False] = False) -> Category | None: ...
def category_from(params: QueryDict, field: str, *, required: bool = False) -> Category | None:
    """The category a query parameter names by slug; FilterError if unknown (or missing when required)."""
    slug = params.get(field, "").strip()
    if not slug:
        if required:
            raise FilterError(field, "required (a category slug)")
        return None
    category = Category.objects.filter(slug=slug).first()
    if category is None:
        raise FilterError(field, f"no category {slug!r}")
    return category


def parse_filter(params: QueryDict) -> ReportFilter:
    """The filter from a query string; the default range is the last REPORTS_DEFAULT_WEEKS weeks."""
    today = timezone.localdate()
    end = _date(params, "to", today)
    start = _date(params, "from", end - timedelta(weeks=settings.REPORTS_DEFAULT_WEEKS) + timedelta(days=1))
    if start > end:
        raise FilterError("from", f"the range starts ({start}) after it ends ({end})")
    if (end - start).days + 1 > settings.REPORTS_MAX_DAYS:
        raise FilterError("from", f"the range is longer than {settings.REPORTS_MAX_DAYS} days")
    category = category_from(params, "category")
    version = None
    number = params.get("version", "").strip().lstrip("v")
    if number:
        if not VERSION_NUMBER.fullmatch(number):
            raise FilterError("version", f"{number!r} is not a model version number")
        version = ModelVersion.objects.filter(version=int(number)).first()
        if version is None:
            raise FilterError("version", f"no model version v{number}")
    language = params.get("language", "").strip().lower()
    if language and not LANGUAGE.match(language):
        raise FilterError("language", f"{language!r} is not a language code (e.g. en, es, pt-br)")
    return ReportFilter(start=start, end=end, category=category, version=version, language=language)
