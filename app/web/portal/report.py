"""What the SLA dashboard and the monthly report show of a firm's SLA report: the question read
from the filter form, the report's tiles against the firm's own targets, and the charts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import g
from flask_babel import format_date, format_datetime
from flask_babel import gettext as _

from app.db import db, utcnow
from app.queues import service as queues_service
from app.reports import targets
from app.reports.dashboard import received_by_channel, sla_breaches
from app.reports.periods import instant, next_month, zone_of
from app.reports.schemas import SlaReportQueryArgsSchema
from app.reports.sla import FILTERS, GRANULARITIES, MAX_RANGE_DAYS, sla_report
from app.vocabulary import CATEGORIES, CHANNELS, PRIORITIES
from app.web import labels as vocabulary
from app.web.i18n import number, percent, seconds
from app.web.period_form import read_period_form

# The fields of the filter form, named as the API's query parameters.
FORM_FIELDS = ("from", "to", "granularity", *FILTERS)
# Chart colours: one per channel, in the vocabulary's order, readable by most colour-blind eyes.
_PALETTE = ("#0b5cad", "#e69f00", "#009e73", "#cc79a7", "#56b4e9")
_TARGET_COLOUR = "#b3261e"


@dataclass
class Question:
    """One question asked of the SLA report: a range, a bucket size and filters."""

    start: datetime
    end: datetime
    granularity: str
    filters: dict = field(default_factory=dict)
    now: datetime | None = None

    def query_args(self) -> dict[str, str]:
        """The question as the API's (and this page's) query string: explicit dates, so that a
        link asks exactly the question shown even once the month has turned."""
        zone = zone_of(g.tenant)
        args = {"from": _bound(self.start, zone), "to": _bound(self.end, zone)}
        args["granularity"] = self.granularity
        args |= {name: str(value) for name, value in self.filters.items() if value is not None}
        return args


def _bound(at: datetime, zone) -> str:
    """A bound as the form writes it: a plain date when it is local midnight."""
    local = at.astimezone(zone)
    if instant(local.date(), zone) == at:
        return local.date().isoformat()
    return local.isoformat()


def read_question(args) -> tuple[dict[str, str], Question | None, dict[str, list[str]]]:
    """Read the filter form with the API's query schema and period rules.

    Returns what was typed (to show it again), the question (None when the form is wrong) and
    the errors per field. Empty fields are absent, as a plain GET form sends them.
    """
    typed, loaded, period, errors = read_period_form(
        args,
        fields=FORM_FIELDS,
        schema=SlaReportQueryArgsSchema,
        max_days=lambda loaded: MAX_RANGE_DAYS[loaded["granularity"]],
    )
    if errors:
        return typed, None, errors
    start, end = period
    now = utcnow()
    filters = {name: loaded.get(name) for name in FILTERS}
    question = Question(start, end, loaded["granularity"], filters, now)
    shown = {**typed, **question.query_args()}
    return shown, question, {}


def month_question(month: date) -> Question:
    """The monthly report's question: the firm's local month, by day, unfiltered."""
    zone = zone_of(g.tenant)
    return Question(instant(month, zone), instant(next_month(month), zone), "day", {}, utcnow())


def answer(question: Question, *, by_channel: bool = True, by_queue: bool = False) -> dict:
    """The SLA report for the question, its breaches, (for the volume chart) its split by
    channel and, when asked, the whole range per queue (the report's rows grouped by queue,
    one bucket each), read in the firm's scope exactly as the API reads them."""
    asked = {
        "tenant": g.tenant,
        "from_": question.start,
        "to": question.end,
        "granularity": question.granularity,
        "filters": question.filters,
        "now": question.now,
    }
    report = sla_report(**asked)
    return {
        "report": report,
        "channels": received_by_channel(**{k: v for k, v in asked.items() if k != "now"})
        if by_channel
        else None,
        "breaches": sla_breaches(from_=question.start, to=question.end, filters=question.filters),
        "queues": _per_queue(asked) if by_queue else None,
    }


def _per_queue(asked: dict) -> list[dict]:
    """The range's figures per queue: the API's report by queue over one bucket the size of
    the range (the monthly report's month)."""
    whole = {**asked, "granularity": "month", "group_by": "queue"}
    return sla_report(**whole)["rows"]


def form_options() -> dict[str, list[tuple[str, str]]]:
    """The choices of the filter form's selects, each with an "all" first."""
    every = [("", _("All"))]
    queues = db.session.scalars(queues_service.list_()).all()
    return {
        "granularity": vocabulary.options("granularity", GRANULARITIES),
        "queue_id": every + [(str(q.id), q.name) for q in queues],
        "channel": every + vocabulary.options("channel", CHANNELS),
        "category": every + vocabulary.options("category", CATEGORIES),
        "priority": every + vocabulary.options("priority", PRIORITIES),
    }


# --- tiles -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    value: float | int | None
    kind: str  # how the value reads: percent, duration or number
    target: str  # the target in words, or that there is none
    state: str | None  # met, missed, or None (no target, or nothing to measure)


def tiles(report: dict) -> list[Tile]:
    """The headline figures of the report's totals, each against the firm's own target (the
    report's `settings.targets`: app/reports/targets.py says where each comes from)."""
    totals = report["totals"]
    goal = report["settings"]["targets"]
    figures = [
        ("service_level", _("Service level"), totals["service_level"], "percent"),
        ("asa_seconds", _("Average speed of answer"), totals["asa_seconds"], "duration"),
        ("aht_seconds", _("Average handle time"), totals["aht_seconds"], "duration"),
        ("abandonment_rate", _("Abandonment"), totals["abandonment_rate"], "percent"),
        (
            "first_response_within_target",
            _("First response within target"),
            totals["first_response"]["within_target_rate"],
            "percent",
        ),
        (
            "resolution_within_target",
            _("Resolution within target"),
            totals["resolution"]["within_target_rate"],
            "percent",
        ),
        ("fcr_rate", _("First contact resolution"), totals["fcr"]["rate"], "percent"),
        ("csat_rate", _("Customer satisfaction"), totals["csat"]["rate"], "percent"),
        ("breaches", _("Breaches"), totals["breaches"], "number"),
    ]
    return [
        Tile(
            _TILE_KEYS[key],
            label,
            value,
            kind,
            _target_text(key, goal.get(key), kind),
            targets.state(key, value, goal.get(key)),
        )
        for key, label, value, kind in figures
    ]


# The page's names of the figures (data-tile), kept short.
_TILE_KEYS = {
    "service_level": "service_level",
    "asa_seconds": "asa",
    "aht_seconds": "aht",
    "abandonment_rate": "abandonment",
    "first_response_within_target": "first_response",
    "resolution_within_target": "resolution",
    "fcr_rate": "fcr",
    "csat_rate": "csat",
    "breaches": "breaches",
}


def _target_text(key: str, target, kind: str) -> str:
    if target is None:
        return _("No target in the contract")
    shown = {"percent": lambda v: percent(v, 0), "duration": seconds}.get(kind, number)(target)
    if targets.DIRECTIONS[key]:
        return _("Target: at least %(target)s", target=shown)
    if key == "breaches" and target == 0:
        return _("Target: no breaches")
    return _("Target: at most %(target)s", target=shown)


# --- charts ----------------------------------------------------------------------------------


def bucket_label(start: datetime, granularity: str) -> str:
    if granularity == "hour":
        return format_datetime(start, "d MMM HH:mm", rebase=False)
    if granularity == "month":
        return format_date(start, "MMM yyyy")
    return format_date(start, "d MMM")


def period_text(report: dict) -> str:
    """The report's range as the firm reads it: whole local days as dates, both included;
    a range that starts or ends within a day, as date-times."""
    start, end = report["from"], report["to"]
    midnight = datetime.min.time()
    if start.timetz().replace(tzinfo=None) == midnight == end.timetz().replace(tzinfo=None):
        first, last = start.date(), end.date() - timedelta(days=1)
        if first == last:
            return format_date(first, "long")
        return _("%(first)s to %(last)s", first=format_date(first), last=format_date(last))
    return _(
        "%(start)s to %(end)s (not included)",
        start=format_datetime(start, "medium", rebase=False),
        end=format_datetime(end, "medium", rebase=False),
    )


def _percent(value) -> float | None:
    return None if value is None else round(value * 100, 2)


def _minutes(seconds) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def _axis(title: str, *, percent: bool = False, stacked: bool = False) -> dict:
    y = {"beginAtZero": True, "title": {"display": True, "text": title}, "stacked": stacked}
    if percent:
        y["suggestedMax"] = 100
    return {"x": {"stacked": stacked}, "y": y}


def charts(found: dict) -> dict[str, dict]:
    """Chart.js configurations of the report: service level with the target line, volume by
    channel, and first-response and resolution p50/p90 (in minutes of business time)."""
    report = found["report"]
    rows = report["rows"]
    labels = [bucket_label(row["start"], report["granularity"]) for row in rows]
    target = _percent(report["settings"]["service_level_target"])
    result = {
        "service_level": {
            "type": "line",
            "data": {
                "labels": labels,
                "datasets": [
                    {
                        "label": _("Service level (%)"),
                        "data": [_percent(row["service_level"]) for row in rows],
                        "borderColor": _PALETTE[0],
                        "spanGaps": True,
                    },
                    {
                        "label": _("Target (%)"),
                        "data": [target] * len(rows),
                        "borderColor": _TARGET_COLOUR,
                        "borderDash": [6, 4],
                        "pointRadius": 0,
                    },
                ],
            },
            "options": {"scales": _axis(_("Percent"), percent=True)},
        },
        "times": {
            "type": "line",
            "data": {
                "labels": labels,
                "datasets": [
                    _series(_("First response p50"), rows, "first_response", "median", 0),
                    _series(_("First response p90"), rows, "first_response", "p90", 0, True),
                    _series(_("Resolution p50"), rows, "resolution", "median", 1),
                    _series(_("Resolution p90"), rows, "resolution", "p90", 1, True),
                ],
            },
            "options": {"scales": _axis(_("Minutes (business time)"))},
        },
    }
    if found.get("channels") is not None:
        result["channels"] = _channel_volume(found["channels"], labels)
    return result


def _series(label, rows, clock, figure, colour, dashed=False) -> dict:
    series = {
        "label": label,
        "data": [_minutes(row[clock][f"{figure}_seconds"]) for row in rows],
        "borderColor": _PALETTE[colour],
        "spanGaps": True,
    }
    if dashed:
        series["borderDash"] = [6, 4]
    return series


def _channel_volume(by_channel: dict, labels: list[str]) -> dict:
    """Contacts received per bucket, stacked by channel (the rows come per bucket, per group)."""
    starts = sorted({row["start"] for row in by_channel["rows"]})
    position = {start: n for n, start in enumerate(starts)}
    volumes: dict[str, list[int]] = {}
    for row in by_channel["rows"]:
        channel = row["group"] or ""
        volumes.setdefault(channel, [0] * len(starts))[position[row["start"]]] = row["received"]
    datasets = [
        {
            "label": vocabulary.label(channel, "channel"),
            "data": volumes[channel],
            "backgroundColor": _PALETTE[n % len(_PALETTE)],
        }
        for n, channel in enumerate(c for c in CHANNELS if c in volumes)
    ]
    return {
        "type": "bar",
        "data": {"labels": labels, "datasets": datasets},
        "options": {"scales": _axis(_("Contacts received"), stacked=True)},
    }


def months_before(today: date, count: int = 12) -> list[date]:
    """The first days of this month and the `count - 1` before it, latest first."""
    months, cursor = [], today.replace(day=1)
    for _n in range(count):
        months.append(cursor)
        cursor = date(cursor.year - (cursor.month == 1), (cursor.month - 2) % 12 + 1, 1)
    return months


def parse_month(text: str) -> date | None:
    """`yyyy-mm` as the month's first day; None if it is not one."""
    try:
        year, month = text.split("-")
        if len(year) != 4 or len(month) != 2:
            return None
        return date(int(year), int(month), 1)
    except ValueError:
        return None
