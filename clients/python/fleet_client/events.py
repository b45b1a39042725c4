"""Events in FleetCore's JSON form (docs/PROTOCOL.md §1), checked against its limits.

Each builder returns one flat dict with ``kind`` and ``ts``. Values that can be
repaired without inventing data are repaired and the repair is noted (free text
is cut at the byte limit, map values are stringified, an invalid *optional*
timing is left out); anything else raises :class:`InvalidEvent`, whose message
names the field the way the agent does (``total_ms: negative duration``).
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional

# The limits of FleetCore's EventLimits (Sources/FleetCore/Events/EventValidationError.swift).
MAX_ID_BYTES = 256
MAX_NAME_BYTES = 128
MAX_MESSAGE_BYTES = 4096
MAX_KEY_BYTES = 128
MAX_VALUE_BYTES = 1024
MAX_MAP_ENTRIES = 64
MAX_DURATION_MS = 2_592_000_000.0
MAX_COUNT = 10_000_000

EXECUTION_STATUSES = ("success", "failed", "timeout", "cancelled")
SEVERITIES = ("low", "medium", "high", "critical")
METRIC_KINDS = ("counter", "gauge", "histogram")

# Spellings executors commonly use, mapped onto the protocol's values.
_STATUS_ALIASES = {
    "succeeded": "success", "successful": "success", "completed": "success", "complete": "success",
    "ok": "success", "passed": "success", "done": "success",
    "fail": "failed", "failure": "failed", "error": "failed", "errored": "failed",
    "timed_out": "timeout", "timedout": "timeout",
    "canceled": "cancelled", "aborted": "cancelled", "stopped": "cancelled",
}
_SEVERITY_ALIASES = {
    "debug": "low", "info": "low", "minor": "low",
    "warn": "medium", "warning": "medium", "moderate": "medium",
    "error": "high", "major": "high", "severe": "high",
    "fatal": "critical", "blocker": "critical",
}


class InvalidEvent(ValueError):
    """An event that cannot be sent as it is; the message names the field."""


def timestamp(seconds: Optional[float] = None) -> str:
    """RFC 3339 UTC with six fraction digits, e.g. ``2026-11-23T11:48:50.123456Z``."""
    when = datetime.now(timezone.utc) if seconds is None else datetime.fromtimestamp(seconds, timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def target_hash(spec: Any) -> str:
    """A stable 16-hex-digit hash of a target specification (any JSON-able value)."""
    text = spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class Fields:
    """Collects one event's fields, checking each; ``notes`` lists the repairs made."""

    def __init__(self, kind: str, ts: Optional[str] = None) -> None:
        self.event: Dict[str, Any] = {"kind": kind, "ts": ts or timestamp()}
        self.notes: List[str] = []

    # -- strings

    def id(self, field: str, value: Any, required: bool = True) -> None:
        """Ids (``*_id``, hashes): 1–256 bytes. An optional bad id is left out."""
        try:
            text = _text(field, value)
            if text is None or text == "":
                raise InvalidEvent(f"{field}: " + ("required field is missing" if text is None else "must not be empty"))
            if len(text.encode("utf-8")) > MAX_ID_BYTES:
                raise InvalidEvent(f"{field}: longer than {MAX_ID_BYTES} bytes")
        except InvalidEvent as error:
            if required:
                raise
            if value is not None:
                self.notes.append(f"{error}; left out")
            return
        self.event[field] = text

    def name(self, field: str, value: Any, required: bool = True) -> None:
        """Names (``action_type``, ``strategy``, …): 1–128 bytes; longer ones are cut."""
        text = _text(field, value)
        if text is None or text == "":
            if required:
                raise InvalidEvent(f"{field}: " + ("required field is missing" if text is None else "must not be empty"))
            return
        self.event[field] = self._cut(field, text, MAX_NAME_BYTES)

    def message(self, field: str, value: Any) -> None:
        """Free text (``error``, ``message``, …): at most 4096 bytes; longer text is cut. Exceptions become their text."""
        if value is None:
            return
        if isinstance(value, BaseException):
            value = f"{type(value).__name__}: {value}"
        self.event[field] = self._cut(field, str(value), MAX_MESSAGE_BYTES)

    def choice(self, field: str, value: Any, allowed: tuple, aliases: Mapping[str, str], fallback: str) -> None:
        """An enum value; known aliases are mapped, anything else becomes ``fallback`` (noted)."""
        value = _plain(value)
        text = str(value).strip().lower() if value is not None else ""
        text = aliases.get(text, text)
        if text not in allowed:
            self.notes.append(f'{field}: unknown value "{str(value)[:64]}"; sent as "{fallback}"')
            text = fallback
        self.event[field] = text

    def string_map(self, field: str, value: Any) -> None:
        """A string map (``context``, ``labels``): ≤ 64 entries, keys 1–128 bytes, values ≤ 1024 bytes."""
        if value is None:
            return
        if not isinstance(value, Mapping):
            self.notes.append(f"{field}: not a mapping ({type(value).__name__}); left out")
            return
        out: Dict[str, str] = {}
        for key, item in value.items():
            key = str(_plain(key))
            if not key or len(key.encode("utf-8")) > MAX_KEY_BYTES:
                self.notes.append(f'{field}: key "{key[:32]}" is empty or longer than {MAX_KEY_BYTES} bytes; left out')
                continue
            if len(out) == MAX_MAP_ENTRIES:
                self.notes.append(f"{field}: more than {MAX_MAP_ENTRIES} entries; the rest left out")
                break
            item = _plain(item)
            if isinstance(item, str):
                text = item
            elif item is None:
                text = ""
            elif isinstance(item, (bool, int, float, list, tuple, dict)):
                text = json.dumps(item, default=str)
            else:
                text = str(item)
            out[key] = self._cut(f'{field}["{key}"]', text, MAX_VALUE_BYTES)
        self.event[field] = out

    # -- numbers

    def duration(self, field: str, value: Any, required: bool = True) -> None:
        """Milliseconds, finite, 0 to 30 days. An optional bad duration is left out."""
        try:
            number = _number(field, value)
            if number is None:
                raise InvalidEvent(f"{field}: required field is missing")
            if number < 0:
                raise InvalidEvent(f"{field}: negative duration")
            if number > MAX_DURATION_MS:
                raise InvalidEvent(f"{field}: out of range (0...{int(MAX_DURATION_MS)} ms)")
        except InvalidEvent as error:
            if required:
                raise
            if value is not None:
                self.notes.append(f"{error}; left out")
            return
        self.event[field] = _compact(number)

    def count(self, field: str, value: Any, required: bool = True) -> None:
        """Counts: whole numbers from 0 to 10,000,000. An optional bad count is left out."""
        try:
            number = _number(field, value)
            if number is None:
                raise InvalidEvent(f"{field}: required field is missing")
            if number != int(number):
                raise InvalidEvent(f"{field}: expected an integer")
            if not 0 <= number <= MAX_COUNT:
                raise InvalidEvent(f"{field}: out of range (0...{MAX_COUNT})")
        except InvalidEvent as error:
            if required:
                raise
            if value is not None:
                self.notes.append(f"{error}; left out")
            return
        self.event[field] = int(number)

    def fraction(self, field: str, value: Any) -> None:
        """An optional number from 0 to 1 (``confidence``); left out when outside."""
        try:
            number = _number(field, value)
        except InvalidEvent as error:
            self.notes.append(f"{error}; left out")
            return
        if number is None:
            return
        if not 0 <= number <= 1:
            self.notes.append(f"{field}: out of range (0...1); left out")
            return
        self.event[field] = _compact(number)

    def number(self, field: str, value: Any) -> None:
        """A required finite number (metric ``value``)."""
        number = _number(field, value)
        if number is None:
            raise InvalidEvent(f"{field}: required field is missing")
        self.event[field] = _compact(number)

    def flag(self, field: str, value: Any, required: bool = True) -> None:
        """A boolean. Accepts ``True``/``False``, 0/1 and ``"true"``/``"false"``."""
        value = _plain(value)
        if value is None and not required:
            return
        if isinstance(value, bool):
            self.event[field] = value
        elif isinstance(value, int) and value in (0, 1):
            self.event[field] = bool(value)
        elif isinstance(value, str) and value.strip().lower() in ("true", "false"):
            self.event[field] = value.strip().lower() == "true"
        elif value is None:
            raise InvalidEvent(f"{field}: required field is missing")
        else:
            raise InvalidEvent(f"{field}: expected true or false, got {type(value).__name__}")

    def raw(self, field: str, value: Any) -> None:
        if value is not None:
            self.event[field] = value

    def _cut(self, field: str, text: str, limit: int) -> str:
        data = text.encode("utf-8")
        if len(data) <= limit:
            return text
        self.notes.append(f"{field}: longer than {limit} bytes; cut")
        return data[:limit].decode("utf-8", errors="ignore")


def _plain(value: Any) -> Any:
    """Unwraps enums and numpy-style scalars (anything with ``.item()``) into plain Python values."""
    if isinstance(value, enum.Enum):
        value = value.value
    if not isinstance(value, (str, bytes, int, float, bool)) and callable(getattr(value, "item", None)):
        try:
            value = value.item()
        except Exception:
            pass
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return value


def _text(field: str, value: Any) -> Optional[str]:
    value = _plain(value)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidEvent(f"{field}: expected a string, got {type(value).__name__}")
    return str(value)


def _number(field: str, value: Any) -> Optional[float]:
    value = _plain(value)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidEvent(f"{field}: expected a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise InvalidEvent(f"{field}: must be a finite number")
    return float(value)


def _compact(number: float) -> Any:
    """Whole numbers as ints in JSON (``40`` rather than ``40.0``), others at microsecond-ish precision."""
    return int(number) if number.is_integer() else round(number, 6)
