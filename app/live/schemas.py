"""What the API's event stream takes: where to resume and how long to stay open."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

# `<tx>-<seq>`: an event's id in the stream, as `Last-Event-ID` sends it back.
POSITION = r"^[0-9]{1,19}-[0-9]{1,19}$"


class EventStreamArgsSchema(Schema):
    after = fields.String(
        validate=validate.Regexp(POSITION, error="Use an event id of this stream, like 812-4411."),
        metadata={
            "description": "Start after this event id (`0-0`: from the firm's first event). "
            "A `Last-Event-ID` header wins over it. Neither: from now on (with the events of "
            "transactions that are still settling, which no reader has seen yet)."
        },
    )
    max_seconds = fields.Float(
        validate=validate.Range(min=0, max=3600),
        metadata={
            "description": "End the stream (with `bye`) after this many seconds; never later "
            "than the server's own limit (10 minutes by default)."
        },
    )
