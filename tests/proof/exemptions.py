"""What part 1 (schemathesis, all checks) may not hold against the service, and why.

1. Date strategies. API.md: every date and date-time is within the supported range
   1900-01-01..2199-12-31 (cbpconfig.dates; a date outside it is a 400), and the schema says so
   in each parameter's and field's description. OpenAPI 3.0 cannot bound a `format: date`
   string, so schemathesis's own strategies would send year 0152 as "schema-valid". The
   harness generates `date` and `date-time` strings within the documented range instead
   (:func:`register_date_formats`); negative data (wrong formats) is unchanged.

2. Domain rules JSON Schema cannot express. `positive_data_acceptance` expects a 2xx for every
   schema-valid request; a 400 whose body names one of these rules, on the operations listed,
   is the contract working, not a defect. Each entry: (method, path prefix, text the 400 body
   must contain, the API.md rule). Anything else stays a failure.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import strategies as st

from cbpconfig.dates import MAX_DATE, MIN_DATE

WRITES = ("POST", "PUT", "PATCH")
WINDOW = "/api/v1/windows/"

# (methods, path prefix, marker in the 400 body, API.md rule)
EXEMPTIONS: list[tuple[tuple[str, ...], str, str, str]] = [
    (
        WRITES,
        WINDOW,
        "overlaps",
        "Windows: sessions must not overlap one another (400 otherwise); overrides obey the "
        "same overlap rule.",
    ),
    (
        WRITES,
        WINDOW,
        "is not before closes",
        "Windows: a session must open before it closes.",
    ),
    (
        WRITES,
        WINDOW,
        "is after effective_until",
        "Windows: effective_from and effective_until are a range (from <= until).",
    ),
    (
        WRITES,
        WINDOW,
        "needs at least one session",
        "Overrides: closed: true means no sessions; otherwise its sessions are used.",
    ),
    (
        WRITES,
        WINDOW,
        "A closed override has no sessions",
        "Overrides: closed: true means no sessions; otherwise its sessions are used.",
    ),
    (
        ("GET",),
        "/api/v1/calendars/{codes}/business-days",
        "are allowed.",
        "Business days: GET .../business-days lists [start, end] with a span of at most 3660 days.",
    ),
    (
        ("GET",),
        WINDOW,
        "The span from start to end is at most 366 days",
        "Windows: GET .../sessions takes start, end (business dates, span <= 366 days).",
    ),
    (
        ("GET",),
        "/api/v1/flags/evaluate",
        "This parameter is required (an institution code)",
        "Flags: GET /api/v1/flags/evaluate?institution=CODE (an institution key evaluates for "
        "its own institution and needs no parameter; a platform caller must name one).",
    ),
    (
        ("GET",),
        WINDOW,
        "end must not be before start",
        "Windows: sessions between start and end (a range: start <= end).",
    ),
    (
        ("GET",),
        "/api/v1/calendars/",
        "is before start",
        "Business days: GET .../business-days lists the business days in [start, end] (a "
        "range: start <= end).",
    ),
    (
        WRITES,
        "/api/v1/",
        "does not exist.",
        "References by code (calendar, institution) name existing objects; an unknown one is a "
        "400 naming the field.",
    ),
    (
        WRITES,
        "/api/v1/flags/",
        "Unknown institution:",
        "Flags: institutions is a list of institution codes (existing institutions).",
    ),
    (
        WRITES,
        "/api/v1/",
        "No institution has the code",
        "References by code (calendar, institution) name existing objects; an unknown one is a "
        "400 naming the field.",
    ),
    (
        ("POST",),
        "/ofrep/v1/evaluate/flags",
        "Unknown institution:",
        "Flags: the OFREP targetingKey is an institution code; an unknown one is INVALID_CONTEXT "
        "(API.md, OFREP errors).",
    ),
    (
        ("GET",),
        "/api/v1/calendars/",
        "is outside the supported range",
        "Business days: dates and results lie within 1900-01-01..2199-12-31 (API.md, supported "
        "dates); a result outside it cannot be answered.",
    ),
    (
        ("GET",),
        "/api/v1/",
        "This parameter must not be empty",
        "Parameters: an empty or white-space-only value is not a value (README Decisions).",
    ),
    (
        ("POST",),
        "/api/v1/calendars/",
        "is not a country of the holidays package",
        "Holiday import: country names a country of the holidays package (API.md, Holidays "
        "import).",
    ),
    (
        ("POST",),
        "/api/v1/calendars/",
        "is not a financial market of the holidays package",
        "Holiday import: market names a financial market of the holidays package (API.md, "
        "Holidays import).",
    ),
    (
        WRITES,
        "/api/v1/",
        "This field may not be blank.",
        "Names are required: leading and trailing white space is trimmed, so a name of white "
        "space only is blank (Python counts U+001C..U+001F as white space; JSON Schema's "
        "pattern classes do not, so the schema cannot say it).",
    ),
    (
        WRITES,
        "/api/v1/configurations/",
        "the reason is not shown because the configuration is sensitive",
        "Configurations: default must satisfy the type and schema (the reason of a sensitive "
        "one is not shown).",
    ),
    (
        WRITES,
        "/api/v1/configurations/",
        "stored value id",
        "Configuration values must satisfy the type and schema; changing value_type/schema so "
        "a stored value would fail is a 400 naming it (README Decisions, Configuration).",
    ),
    (
        ("GET", *WRITES),
        "/api/v1/",
        "Null characters are not allowed.",
        "A string holding U+0000 cannot be stored in (or compared with) PostgreSQL text: a 400 "
        "naming the field or parameter (API.md Errors); OpenAPI 3.0 has no portable way to "
        "exclude one character from every string.",
    ),
    (
        WRITES,
        "/api/v1/",
        "a string holds U+0000",
        "The same rule for a JSON body (cbpconfig/api/parsers.py): U+0000 cannot be stored in "
        "PostgreSQL text or jsonb.",
    ),
    (
        WRITES,
        "/api/v1/configurations/",
        "Invalid value for",
        "Configuration values: a value must satisfy the configuration's type and schema.",
    ),
    (
        WRITES,
        "/api/v1/configurations/",
        "does not satisfy",
        "Configurations: default must satisfy the type and schema.",
    ),
    (
        WRITES,
        "/api/v1/configurations/",
        "is not a valid JSON Schema (draft 2020-12)",
        "Configurations: schema is a JSON Schema (draft 2020-12) that every value must also "
        "satisfy; the schema can only say `type: object` (OpenAPI 3.0 cannot carry the "
        "draft 2020-12 meta-schema, nor RE2's rules for `pattern`).",
    ),
    (
        WRITES,
        "/api/v1/configurations/",
        "which is not defined in the schema (remote references are not fetched)",
        "Configurations: schema is a JSON Schema (draft 2020-12); a `$ref` must resolve inside "
        "it (the service never fetches a URL a caller names; the schema's description says so).",
    ),
    (
        WRITES,
        "/api/v1/configurations/",
        "the schema refers to itself in an endless loop of $ref",
        "Configurations: schema is a JSON Schema (draft 2020-12) that every value must also "
        "satisfy; one that loops on every value can be satisfied by none.",
    ),
    (
        ("POST",),
        "/api/v1/calendars/",
        "Give a country (e.g. US) or a market",
        "Holiday import: {country, subdivision, years} or {market, years} — one of the two.",
    ),
    (
        ("POST",),
        "/api/v1/calendars/",
        "Give either a country or a market, not both",
        "Holiday import: {country, subdivision, years} or {market, years} — one of the two.",
    ),
    (
        ("POST",),
        "/api/v1/calendars/",
        "years span",
        "Holiday import: years span at most 50.",
    ),
]


def exempted(check: str, operation: str, status: object, body: str) -> str | None:
    """The API.md rule that makes this failure expected, or None."""
    if check != "positive_data_acceptance" or str(status) != "400":
        return None
    method, _, path = operation.partition(" ")
    for methods, prefix, marker, rule in EXEMPTIONS:
        if method in methods and path.startswith(prefix) and marker in body:
            return rule
    return None


_DAY_AFTER_MIN = date(MIN_DATE.year, MIN_DATE.month, MIN_DATE.day + 1)
_DAY_BEFORE_MAX = date(MAX_DATE.year, MAX_DATE.month, MAX_DATE.day - 1)


def register_date_formats() -> None:
    """`date` and `date-time` strings within the supported range (see 1. above). A date-time
    is in UTC and a day inside either end, so no offset takes it outside."""
    import schemathesis

    dates = st.dates(min_value=MIN_DATE, max_value=MAX_DATE).map(date.isoformat)
    datetimes = st.datetimes(
        min_value=datetime.combine(_DAY_AFTER_MIN, datetime.min.time()),
        max_value=datetime.combine(_DAY_BEFORE_MAX, datetime.min.time()),
        timezones=st.just(UTC),
    ).map(lambda moment: moment.isoformat().replace("+00:00", "Z"))
    schemathesis.openapi.format("date", dates)
    schemathesis.openapi.format("date-time", datetimes)
