"""The onboarding form's fields and their mapping to the API's onboarding request and back.

Field names are the request's dotted paths (`calendar.weekly_hours.mon.0.start`), so that a
schema error lands beside its input. The form has a fixed number of slots (windows per day,
queue rows); blank slots are left out of the request, and the indexes of errors are mapped
back to the slots they came from. The defaults shown are the domains' own.
"""

from __future__ import annotations

import re

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from app.queues import service as queues_service
from app.sla import policies as sla_policies
from app.sla.calendar import WEEKDAYS
from app.sla.calendars import DEFAULT_OPENING
from app.vocabulary import PRIORITIES

WINDOWS_PER_DAY = 2
QUEUE_ROWS = 3
PROFILE = ("name", "slug", "time_zone", "locale", "currency")
POLICY_NUMBERS = (
    "service_level_target_bps",
    "at_risk_bps",
    "short_abandon_seconds",
    "fcr_window_days",
)
TARGET_FIELDS = ("first_response_seconds", "answer_threshold_seconds", "resolution_seconds")
# Where each step's fields start: a step with an error opens by itself.
STEPS = {
    "profile": PROFILE,
    "calendar": ("calendar",),
    "queues": ("queues",),
    "sla": ("sla_policy",),
    "rate_card": ("rate_card",),
    "first_admin": ("first_admin",),
}
_INTEGER = re.compile(r"^-?\d+\Z")


def initial() -> MultiDict:
    """The form as first shown: the defaults onboarding would apply, ready to change."""
    form = MultiDict()
    for day in WEEKDAYS[:5]:
        form[f"calendar.weekly_hours.{day}.0.start"] = DEFAULT_OPENING["start"]
        form[f"calendar.weekly_hours.{day}.0.end"] = DEFAULT_OPENING["end"]
    for index, queue in enumerate(queues_service.default_queues_in()):
        form[f"queues.{index}.name"] = queue["name"]
        form.setlist(f"queues.{index}.channels", list(queue["channels"]))
        form[f"queues.{index}.languages"] = ", ".join(queue["languages"])
        form[f"queues.{index}.answer_threshold_seconds"] = str(queue["answer_threshold_seconds"])
    policy = sla_policies.default_policy_in()
    form["sla_policy.name"] = policy["name"]
    form["sla_policy.abandon_treatment"] = policy["abandon_treatment"]
    for name in POLICY_NUMBERS:
        form[f"sla_policy.{name}"] = str(policy[name])
    for target in policy["targets"]:
        for name in TARGET_FIELDS:
            if target.get(name) is not None:
                form[f"sla_policy.targets.{target['priority']}.{name}"] = str(target[name])
    form["rate_card.default_unit_amount"] = "0"
    form["rate_card.monthly_minimum"] = "0"
    return form


def _text(form: MultiDict, name: str) -> str:
    return (form.get(name) or "").strip()


def _number(text: str):
    """An integer as typed, else the text itself, for the schema to refuse in its own words."""
    return int(text) if _INTEGER.match(text) else text


class Request:
    """The onboarding request a filled-in form makes, and how to put its errors back."""

    def __init__(self, form: MultiDict) -> None:
        self.form = form
        self.slots: dict[str, list[int]] = {}  # list path -> the form slot of each item sent
        self.targets: list[tuple[str, str]] = []  # target index -> (priority, kind)
        self.lines: dict[str, list[int]] = {}  # textarea path -> line number of each item
        self.body = self._build()

    def _build(self) -> dict:
        form = self.form
        body: dict = {name: _text(form, name) for name in PROFILE}
        body["calendar"] = self._calendar()
        queues = self._queues()
        if queues:
            body["queues"] = queues
        body["sla_policy"] = self._policy()
        body["rate_card"] = {
            name: _number(_text(form, f"rate_card.{name}"))
            for name in ("default_unit_amount", "monthly_minimum")
            if _text(form, f"rate_card.{name}")
        }
        admin = {name: _text(form, f"first_admin.{name}") for name in ("name", "email")}
        if any(admin.values()):
            body["first_admin"] = admin
        return body

    def _calendar(self) -> dict:
        form = self.form
        weekly: dict[str, list[dict]] = {}
        for day in WEEKDAYS:
            path = f"calendar.weekly_hours.{day}"
            weekly[day] = []
            for slot in range(WINDOWS_PER_DAY):
                start = _text(form, f"{path}.{slot}.start")
                end = _text(form, f"{path}.{slot}.end")
                if start or end:
                    weekly[day].append({"start": start, "end": end})
                    self.slots.setdefault(path, []).append(slot)
        calendar: dict = {"weekly_hours": weekly}
        for name in ("holiday_country", "holiday_subdivision"):
            calendar[name] = _text(form, f"calendar.{name}").upper() or None
        closures, lines = [], []
        for number, line in enumerate(_text(form, "calendar.closures").splitlines(), start=1):
            if line.strip():
                closures.append(line.strip())
                lines.append(number)
        calendar["closures"] = closures
        self.lines["calendar.closures"] = lines
        return calendar

    def _queues(self) -> list[dict]:
        form = self.form
        queues = []
        for slot in range(QUEUE_ROWS):
            path = f"queues.{slot}"
            name = _text(form, f"{path}.name")
            channels = form.getlist(f"{path}.channels")
            languages = [x.strip() for x in _text(form, f"{path}.languages").split(",")]
            threshold = _text(form, f"{path}.answer_threshold_seconds")
            if not (name or channels):
                continue
            queue = {"name": name, "channels": channels, "languages": [x for x in languages if x]}
            if threshold:
                queue["answer_threshold_seconds"] = _number(threshold)
            queues.append(queue)
            self.slots.setdefault("queues", []).append(slot)
        return queues

    def _policy(self) -> dict:
        form = self.form
        policy: dict = {
            "name": _text(form, "sla_policy.name"),
            "abandon_treatment": _text(form, "sla_policy.abandon_treatment"),
        }
        for name in POLICY_NUMBERS:
            text = _text(form, f"sla_policy.{name}")
            if text:
                policy[name] = _number(text)
        targets = []

        def value(priority: str, name: str):
            text = _text(form, f"sla_policy.targets.{priority}.{name}")
            return _number(text) if text else None

        for priority in PRIORITIES:
            resolution = value(priority, "resolution_seconds")
            targets.append(
                {
                    "priority": priority,
                    "first_response_seconds": value(priority, "first_response_seconds"),
                    "resolution_seconds": resolution,
                }
            )
            self.targets.append((priority, "any"))
            answer = value(priority, "answer_threshold_seconds")
            if answer is not None:
                # The answer threshold is for the live channels, as in the default policy.
                for channel in ("voice", "chat"):
                    targets.append(
                        {
                            "priority": priority,
                            "channel": channel,
                            "answer_threshold_seconds": answer,
                            "resolution_seconds": resolution,
                        }
                    )
                    self.targets.append((priority, channel))
        policy["targets"] = targets
        return policy

    def field_errors(self, flat: dict[str, list[str]]) -> dict[str, list[str]]:
        """Errors keyed by the request's paths, re-keyed by the form's field names."""
        out: dict[str, list[str]] = {}
        for key, messages in flat.items():
            name, messages = self._field_of(key, messages)
            out.setdefault(name, []).extend(messages)
        return out

    def _field_of(self, key: str, messages: list[str]) -> tuple[str, list[str]]:
        parts = key.split(".")
        if key.startswith("sla_policy.targets.") and parts[2].isdigit():
            priority, kind = self.targets[int(parts[2])]
            rest = parts[3] if len(parts) > 3 else "_form"
            if kind != "any" and rest != "resolution_seconds":
                rest = "answer_threshold_seconds"
            elif rest not in TARGET_FIELDS:
                rest = "first_response_seconds"
            return f"sla_policy.targets.{priority}.{rest}", messages
        for path, slots in self.slots.items():
            depth = path.count(".") + 1
            index = parts[depth] if len(parts) > depth else ""
            if parts[:depth] == path.split(".") and index.isdigit() and int(index) < len(slots):
                parts[depth] = str(slots[int(index)])
        key = ".".join(parts)
        for path, lines in self.lines.items():
            if key.startswith(path + ".") and parts[-1].isdigit():
                line = lines[int(parts[-1])] if int(parts[-1]) < len(lines) else None
                return path, [
                    _("Line %(line)s: %(message)s", line=line, message=m) if line else m
                    for m in messages
                ]
        if re.match(r"^queues\.\d+\.(languages|channels)\.\d+$", key):
            return key.rsplit(".", 1)[0], messages
        if re.match(r"^calendar\.weekly_hours\.\w+\.\d+$", key):
            # A window's own problem (an overlap): beside its start.
            return key + ".start", messages
        return key, messages


def step_errors(errors: dict[str, list[str]]) -> dict[str, bool]:
    """Whether each step holds an error, so that it opens."""
    return {
        step: any(key.split(".")[0] in prefixes for key in errors)
        for step, prefixes in STEPS.items()
    }
