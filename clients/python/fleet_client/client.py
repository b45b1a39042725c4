"""FleetClient: an RPA executor's events to the local fleet-agent, and its flags back.

The hooks build events in FleetCore's JSON form and queue them in a bounded
in-process buffer; a background thread posts them as NDJSON to the agent's
loopback API (``POST /v1/events``). No hook ever raises or blocks on the
network: problems are logged on the ``fleet_client`` logger and counted in
:meth:`FleetClient.stats`.
"""

from __future__ import annotations

import atexit
import collections
import functools
import http.client
import json
import logging
import os
import random
import threading
import time
import weakref
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Tuple, TypeVar
from urllib.parse import urlsplit

from . import events as ev
from .events import Fields, InvalidEvent
from .flags import FlagsFile

DEFAULT_PORT = 7070
DROP_REASONS = ("overflow", "invalid", "rejected", "too_large", "closed")
"""Why events were dropped: buffer full (oldest go first), a value the client could not repair,
refused by the agent, larger than the agent takes in one request, or still unsent at close()."""

log = logging.getLogger("fleet_client")

_Line = Tuple[bytes, str]  # one NDJSON line (without newline) and its event kind
_F = TypeVar("_F", bound=Callable[..., Any])


def _hook(method: _F) -> _F:
    """Runs a hook so that nothing it does (bad arguments included) raises into the executor."""

    @functools.wraps(method)
    def wrapper(self: "FleetClient", *args: Any, **kwargs: Any) -> None:
        try:
            method(self, *args, **kwargs)
        except InvalidEvent as error:
            self._drop_invalid(method.__name__, str(error))
        except TypeError as error:  # a call that does not match the signature
            self._drop_invalid(method.__name__, f"bad call: {error}")
        except Exception:
            self._limited("internal", logging.ERROR, "fleet_client: %s failed", method.__name__, exc_info=True)
            self._drop_invalid(method.__name__, "internal error", log_it=False)

    return wrapper  # type: ignore[return-value]


class _Run:
    __slots__ = ("workflow_id", "total_steps", "started", "completed", "failed")

    def __init__(self, workflow_id: str, total_steps: Optional[int]) -> None:
        self.workflow_id = workflow_id
        self.total_steps = total_steps
        self.started = time.monotonic()
        self.completed = 0
        self.failed = 0


class FleetClient:
    """Sends an executor's events to the local fleet-agent; reads the flags it writes.

    Args:
        agent_url: the agent's loopback base URL. Default: ``$FLEET_AGENT_URL``, else
            ``http://127.0.0.1:PORT`` with ``port``, ``$FLEET_AGENT_PORT`` or 7070.
        flags_file: the flags file (default ``$FLEET_FLAGS_FILE``); None: defaults only.
        flag_defaults: values used for flags the file does not set.
        max_buffer: events held while the agent is unreachable; beyond it the oldest are dropped.
        batch_size: events per request; a full batch is sent without waiting for ``flush_interval``.
        flush_interval: seconds an event may wait for more to join its request.
        timeout: seconds per request (the agent answers once the events are durable).
        retry_max: the longest pause, in seconds, between attempts while the agent is unreachable.
        close_timeout: seconds ``close()`` (and the atexit hook) spends delivering what is left.
    """

    def __init__(
        self,
        agent_url: Optional[str] = None,
        *,
        port: Optional[int] = None,
        flags_file: Optional[str] = None,
        flag_defaults: Optional[Mapping[str, Any]] = None,
        max_buffer: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        timeout: float = 10.0,
        retry_max: float = 2.0,
        close_timeout: float = 3.0,
        register_atexit: bool = True,
    ) -> None:
        self.agent_url = _agent_url(agent_url, port)
        url = urlsplit(self.agent_url)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 80
        self._base_path = url.path
        self.max_buffer = max(1, max_buffer)
        self.batch_size = max(1, batch_size)
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.retry_max = retry_max
        self.close_timeout = close_timeout
        self.flags_file = FlagsFile(flags_file or os.environ.get("FLEET_FLAGS_FILE"), flag_defaults)

        self._cond = threading.Condition()
        self._buffer: Deque[_Line] = collections.deque()
        self._inflight = 0
        self._first_queued = 0.0  # monotonic time the buffer last became non-empty
        self._not_before = 0.0  # no attempt before this monotonic time (backoff)
        self._backoff = 0.0
        self._batch_limit = self.batch_size
        self._flush_requests = 0
        self._closing = False
        self._closed = False
        self._stop = False
        self._available: Optional[bool] = None
        self._last_error: Optional[str] = None
        self._delivered = 0
        self._retries = 0
        self._repaired = 0
        self._drops: Dict[str, int] = dict.fromkeys(DROP_REASONS, 0)
        self._drops_reported: Dict[str, int] = dict.fromkeys(DROP_REASONS, 0)
        self._log_counts: Dict[str, int] = {}

        self._runs: "collections.OrderedDict[str, _Run]" = collections.OrderedDict()
        self._step_starts: "collections.OrderedDict[Tuple[str, str], Tuple[float, float]]" = collections.OrderedDict()

        self._thread = threading.Thread(target=self._flusher, name="fleet-client-flush", daemon=True)
        self._thread.start()
        if hasattr(os, "register_at_fork"):
            me = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: me() is not None and me()._after_fork())  # type: ignore
        self._atexit = register_atexit
        if register_atexit:
            atexit.register(self._close_at_exit)

    # ------------------------------------------------------------------ hooks

    @_hook
    def on_execution_start(self, execution_id: str, workflow_id: str, total_steps: Optional[int] = None,
                           **extra: Any) -> None:
        """A workflow run began. Sends ``execution_started``."""
        f = Fields("execution_started")
        f.id("execution_id", execution_id)
        f.id("workflow_id", workflow_id)
        f.count("total_steps", total_steps, required=False)
        with self._cond:
            self._runs[f.event["execution_id"]] = _Run(f.event["workflow_id"], f.event.get("total_steps"))
            _trim(self._runs, 10_000)
        self._emit(f)

    @_hook
    def on_step_start(self, execution_id: str, workflow_id: Optional[str] = None, node_id: Optional[str] = None,
                      step_number: Optional[int] = None, action_type: Optional[str] = None, **extra: Any) -> None:
        """A step began. Sends nothing; its start time becomes the step's ``started_at`` and default ``total_ms``."""
        with self._cond:
            self._step_starts[_step_key(execution_id, node_id, step_number)] = (time.time(), time.monotonic())
            _trim(self._step_starts, 10_000)

    @_hook
    def on_step_complete(
        self,
        execution_id: str,
        workflow_id: Optional[str],
        node_id: str,
        step_number: int,
        action_type: str,
        success: bool,
        error: Any = None,
        ocr_ms: Optional[float] = None,
        ui_ms: Optional[float] = None,
        analyze_ms: Optional[float] = None,
        total_ms: Optional[float] = None,
        cache_hit: bool = False,
        degraded: Optional[bool] = None,
        **extra: Any,
    ) -> None:
        """A step finished. Sends ``step_finished``.

        ``workflow_id`` may be None once ``on_execution_start`` named it; ``total_ms``
        defaults to the time since ``on_step_start``; ``degraded`` to the ``degraded`` flag.
        """
        now, now_mono = time.time(), time.monotonic()
        with self._cond:
            run = self._runs.get(str(execution_id))
            start = self._step_starts.pop(_step_key(execution_id, node_id, step_number), None)
        if total_ms is None and start is not None:
            total_ms = (now_mono - start[1]) * 1000
        f = Fields("step_finished", ev.timestamp(now))
        f.id("execution_id", execution_id)
        f.id("workflow_id", workflow_id if workflow_id is not None else run and run.workflow_id)
        f.id("node_id", node_id)
        f.count("step_number", step_number)
        f.name("action_type", action_type)
        f.flag("success", success)
        f.message("error", error)
        f.duration("ocr_ms", ocr_ms, required=False)
        f.duration("ui_ms", ui_ms, required=False)
        f.duration("analyze_ms", analyze_ms, required=False)
        f.duration("total_ms", total_ms)
        f.flag("cache_hit", cache_hit)
        f.flag("degraded", self.flag("degraded", False) if degraded is None else degraded)
        if start is not None:
            f.raw("started_at", ev.timestamp(min(start[0], now)))
            f.raw("finished_at", f.event["ts"])
        if run is not None:
            with self._cond:
                if f.event["success"]:
                    run.completed += 1
                else:
                    run.failed += 1
        self._emit(f)

    @_hook
    def on_recovery_attempt(self, execution_id: str, workflow_id: Optional[str], node_id: Optional[str],
                            strategy: str, success: bool, duration_ms: float, command_id: Optional[str] = None,
                            **extra: Any) -> None:
        """The executor tried a self-healing strategy. Sends ``recovery_attempted``."""
        f = Fields("recovery_attempted")
        f.id("execution_id", execution_id)
        f.id("workflow_id", workflow_id if workflow_id is not None else self._workflow_of(execution_id))
        f.id("node_id", node_id, required=False)
        f.name("strategy", strategy)
        f.flag("success", success)
        f.duration("duration_ms", duration_ms)
        f.id("command_id", command_id, required=False)
        self._emit(f)

    @_hook
    def on_execution_complete(
        self,
        execution_id: str,
        status: Any,
        steps_completed: Optional[int] = None,
        steps_failed: Optional[int] = None,
        error_message: Any = None,
        *,
        workflow_id: Optional[str] = None,
        total_steps: Optional[int] = None,
        duration_ms: Optional[float] = None,
        **extra: Any,
    ) -> None:
        """A workflow run ended. Sends ``execution_finished``.

        ``status``: success | failed | timeout | cancelled (common spellings such as
        "completed" or "error" are mapped; anything else is sent as failed). The
        workflow, step counts and duration default to what the client saw since
        ``on_execution_start``.
        """
        with self._cond:
            run = self._runs.pop(str(execution_id), None)
        f = Fields("execution_finished")
        f.id("execution_id", execution_id)
        f.id("workflow_id", workflow_id if workflow_id is not None else run and run.workflow_id)
        f.choice("status", status, ev.EXECUTION_STATUSES, ev._STATUS_ALIASES, "failed")
        f.count("total_steps", total_steps if total_steps is not None else run and run.total_steps, required=False)
        f.count("steps_completed", steps_completed if steps_completed is not None else run.completed if run else 0)
        f.count("steps_failed", steps_failed if steps_failed is not None else run.failed if run else 0)
        if duration_ms is None and run is not None:
            duration_ms = (time.monotonic() - run.started) * 1000
        f.duration("duration_ms", duration_ms, required=False)
        f.message("error_message", error_message)
        self._emit(f)

    @_hook
    def record_error(self, error_type: str, message: Any, component: str = "executor", severity: Any = "medium",
                     context: Optional[Mapping[str, Any]] = None, *, execution_id: Optional[str] = None,
                     workflow_id: Optional[str] = None, **extra: Any) -> None:
        """Something went wrong. Sends ``error``; severity low | medium | high | critical
        (warning, error, fatal, … are mapped; anything else is sent as medium)."""
        f = Fields("error")
        f.name("error_type", error_type)
        f.message("message", message if message is not None else "")
        f.name("component", component)
        f.choice("severity", severity, ev.SEVERITIES, ev._SEVERITY_ALIASES, "medium")
        f.string_map("context", context)
        f.id("execution_id", execution_id, required=False)
        f.id("workflow_id", workflow_id if workflow_id is not None else self._workflow_of(execution_id), required=False)
        self._emit(f)

    @_hook
    def record_resolution(self, target_hash: Any, strategy: str, success: bool, duration_ms: float,
                          confidence: Optional[float] = None, screen_state_hash: Optional[str] = None,
                          candidates: Optional[int] = None, error_type: Optional[str] = None, *,
                          execution_id: Optional[str] = None, workflow_id: Optional[str] = None,
                          **extra: Any) -> None:
        """A target was resolved on screen (or not). Sends ``resolution``. ``target_hash``
        may be the target specification itself (a dict, …): it is hashed."""
        f = Fields("resolution")
        f.id("target_hash", target_hash if isinstance(target_hash, str) else ev.target_hash(target_hash))
        f.name("strategy", strategy)
        f.flag("success", success)
        f.duration("duration_ms", duration_ms)
        f.fraction("confidence", confidence)
        f.id("screen_state_hash", screen_state_hash, required=False)
        f.count("candidates", candidates, required=False)
        f.name("error_type", error_type, required=False)
        f.id("execution_id", execution_id, required=False)
        f.id("workflow_id", workflow_id if workflow_id is not None else self._workflow_of(execution_id), required=False)
        self._emit(f)

    @_hook
    def record_metric(self, name: str, value: float, kind: str = "gauge",
                      labels: Optional[Mapping[str, Any]] = None, **extra: Any) -> None:
        """Anything the other kinds do not cover. Sends ``metric`` (kind counter | gauge | histogram)."""
        f = Fields("metric")
        f.name("name", name)
        if kind not in ev.METRIC_KINDS:
            raise InvalidEvent(f'metric_kind: unknown value "{kind}"; expected one of {", ".join(ev.METRIC_KINDS)}')
        f.raw("metric_kind", kind)
        f.number("value", value)
        f.string_map("labels", labels or {})
        self._emit(f)

    @_hook
    def record(self, event: Mapping[str, Any]) -> None:
        """Sends one event given as a dict in the JSON form, unchecked except for ``kind``
        (the agent validates it; a refusal is logged and counted as ``rejected``)."""
        if not isinstance(event, Mapping) or not isinstance(event.get("kind"), str):
            raise InvalidEvent('(event): expected a mapping with a string "kind"')
        f = Fields(event["kind"])
        f.event.update(event)
        self._emit(f)

    # ------------------------------------------------------------------ flags

    def flags(self) -> Dict[str, Any]:
        """The executor's flags: defaults overlaid with the flags file (re-read when it changes)."""
        return self.flags_file.get()

    def flag(self, name: str, default: Any = None) -> Any:
        """One flag, typed like ``default``; ``default`` when it is absent or of another type."""
        return self.flags_file.flag(name, default)

    # ------------------------------------------------------------------ delivery

    def stats(self) -> Dict[str, Any]:
        """What the client did: ``queued`` (buffered or in flight), ``delivered`` (accepted by the
        agent), ``dropped`` by reason (see DROP_REASONS), ``dropped_total``, ``repaired`` (events sent
        with a value cut or left out), ``retries``, ``agent_available`` and ``last_error``."""
        with self._cond:
            return {
                "queued": len(self._buffer) + self._inflight,
                "delivered": self._delivered,
                "dropped": dict(self._drops),
                "dropped_total": sum(self._drops.values()),
                "repaired": self._repaired,
                "retries": self._retries,
                "agent_available": self._available,
                "last_error": self._last_error,
            }

    @property
    def dropped(self) -> int:
        """Events lost so far, for any reason."""
        with self._cond:
            return sum(self._drops.values())

    def flush(self, timeout: float = 5.0) -> bool:
        """Waits until every queued event is delivered (True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flush_requests += 1
            self._cond.notify_all()
            try:
                while self._buffer or self._inflight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self._thread.is_alive():
                        return False
                    self._cond.wait(remaining)
                return True
            finally:
                self._flush_requests -= 1

    def close(self, timeout: Optional[float] = None) -> None:
        """Delivers what is queued (for at most ``timeout`` seconds) and stops. Later events are dropped."""
        with self._cond:
            if self._closed:
                return
            self._closing = True
        self.flush(self.close_timeout if timeout is None else timeout)
        with self._cond:
            self._closed = self._stop = True
            left = len(self._buffer) + self._inflight
            self._drops["closed"] += len(self._buffer)
            self._buffer.clear()
            self._cond.notify_all()
        self._thread.join(timeout=1.0 + self.timeout if left else 1.0)
        if left:
            log.error("fleet_client closed with %d events undelivered (agent at %s%s)",
                      left, self.agent_url, f": {self._last_error}" if self._last_error else "")
        if self._atexit:
            atexit.unregister(self._close_at_exit)

    def __enter__(self) -> "FleetClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def health(self) -> Optional[Dict[str, Any]]:
        """The agent's ``GET /v1/health`` answer, or None when it cannot be had."""
        try:
            status, body = self._request("GET", "/v1/health", None, timeout=2.0)
            return json.loads(body) if status == 200 else None
        except (OSError, http.client.HTTPException, ValueError):
            return None

    # ------------------------------------------------------------------ internals

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def _after_fork(self) -> None:
        """In a forked child: the parent delivers what was queued; the child starts afresh with its own thread."""
        self._cond = threading.Condition()
        self._buffer.clear()
        self._inflight = 0
        if not self._closed:
            self._thread = threading.Thread(target=self._flusher, name="fleet-client-flush", daemon=True)
            self._thread.start()

    def _workflow_of(self, execution_id: Any) -> Optional[str]:
        with self._cond:
            run = self._runs.get(str(execution_id)) if execution_id is not None else None
            return run.workflow_id if run else None

    def _emit(self, f: Fields) -> None:
        try:
            line = json.dumps(f.event, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as error:
            raise InvalidEvent(f"(event): not representable as JSON: {error}") from None
        kind = f.event["kind"]
        with self._cond:
            if f.notes:
                self._repaired += 1
            if self._closed:
                self._drops["closed"] += 1
                self._limited("closed", logging.WARNING, "fleet_client is closed; %s event dropped", kind)
                return
            if len(self._buffer) + self._inflight >= self.max_buffer:
                self._drops["overflow"] += 1
                self._limited("overflow", logging.WARNING,
                              "fleet_client buffer full (%d events; agent at %s: %s); dropping the oldest",
                              self.max_buffer, self.agent_url, self._last_error)
                if not self._buffer:  # all of it is in flight: the new event is the one to go
                    return
                self._buffer.popleft()
            if not self._buffer:
                self._first_queued = time.monotonic()
                self._cond.notify_all()
            self._buffer.append((line, kind))
            if len(self._buffer) == self._batch_limit:
                self._cond.notify_all()
        for note in f.notes:
            self._limited("repaired:" + note.split(":")[0], logging.WARNING, "fleet_client: %s event: %s", kind, note)

    def _drop_invalid(self, hook: str, why: str, log_it: bool = True) -> None:
        with self._cond:
            self._drops["invalid"] += 1
        if log_it:
            self._limited("invalid:" + why.split(":")[0], logging.WARNING, "fleet_client: %s: event dropped: %s", hook, why)

    def _limited(self, key: str, level: int, msg: str, *args: Any, exc_info: bool = False) -> None:
        """Logs the first 10 messages of a kind, then every 1000th, so a bad loop cannot flood the log."""
        n = self._log_counts.get(key, 0) + 1
        self._log_counts[key] = n
        if n <= 10 or n % 1000 == 0:
            suffix = f" (seen {n} times)" if n > 10 else ""
            log.log(level, msg + suffix, *args, exc_info=exc_info)

    def _flusher(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stop:
                        return
                    now = time.monotonic()
                    if self._buffer:
                        due = max(self._not_before, self._first_queued + self.flush_interval)
                        if self._flush_requests or self._closing or len(self._buffer) >= self._batch_limit:
                            due = self._not_before
                        if now >= due:
                            break
                        self._cond.wait(due - now)
                    else:
                        self._cond.wait()
                batch = [self._buffer.popleft() for _ in range(min(self._batch_limit, len(self._buffer)))]
                self._inflight = len(batch)
            outcome, detail = self._send(batch)
            with self._cond:
                self._inflight = 0
                self._settle(batch, outcome, detail)
                if self._buffer:
                    self._first_queued = time.monotonic()
                self._cond.notify_all()

    def _send(self, batch: List[_Line]) -> Tuple[str, Any]:
        """Posts one batch. Returns ("ok", line errors) | ("rejected", line errors) | ("split", why)
        | ("retry", why) | ("retry-smaller", why): retry with a smaller batch, the connection broke."""
        body = b"\n".join(line for line, _ in batch) + b"\n"
        try:
            status, payload = self._request("POST", "/v1/events", body, timeout=self.timeout)
        except ConnectionRefusedError as error:
            return "retry", f"agent not listening at {self.agent_url} ({error.strerror or error})"
        except (OSError, http.client.HTTPException) as error:
            return "retry-smaller", f"request to {self.agent_url} failed: {type(error).__name__}: {error}"
        answer: Any = None
        try:
            answer = json.loads(payload)
        except ValueError:
            pass
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if status == 200:
            return "ok", errors if isinstance(errors, list) else []
        message = _error_message(answer, payload)
        if status == 400:  # the agent lists each bad line; anything else refused the whole request
            return "rejected", errors if isinstance(errors, list) else [{"line": 0, "error": message}] * len(batch)
        if status == 413:
            return "split", f"HTTP 413: {message}"
        return "retry", f"agent answered HTTP {status}: {message}"

    def _settle(self, batch: List[_Line], outcome: str, detail: Any) -> None:
        """Books a batch's outcome; called with the lock held."""
        if outcome in ("ok", "rejected"):
            for item in detail:
                line = item.get("line") if isinstance(item, dict) else None
                kind = batch[line - 1][1] if isinstance(line, int) and 0 < line <= len(batch) else "?"
                reason = item.get("error") if isinstance(item, dict) else item
                self._limited("rejected", logging.WARNING, "fleet agent rejected an event (%s): %s", kind, reason)
            rejected = len(batch) if outcome == "rejected" else len(detail)
            self._drops["rejected"] += rejected
            self._delivered += len(batch) - rejected
            if self._available is False:
                log.info("fleet agent at %s is reachable again", self.agent_url)
            self._available, self._backoff, self._not_before = True, 0.0, 0.0
            self._batch_limit = min(self.batch_size, self._batch_limit * 2)
            self._report_drops()
            return
        self._last_error = detail
        if self._closed:
            self._drops["closed"] += len(batch)
            return
        if outcome == "split" and len(batch) == 1:
            self._drops["too_large"] += 1
            self._limited("too_large", logging.ERROR, "fleet_client: one %s event is larger than the agent takes (%s); dropped",
                          batch[0][1], detail)
            return
        self._buffer.extendleft(reversed(batch))
        while len(self._buffer) > self.max_buffer:
            self._buffer.popleft()
            self._drops["overflow"] += 1
        if outcome != "retry":
            self._batch_limit = max(1, len(batch) // 2)
        if outcome == "split":
            return
        self._retries += 1
        self._backoff = min(self.retry_max, max(0.1, self._backoff * 2))
        self._not_before = time.monotonic() + self._backoff * random.uniform(0.5, 1.0)
        if self._available is not False:
            log.warning("fleet agent unavailable: %s; buffering events (at most %d) and retrying",
                        detail, self.max_buffer)
        self._available = False

    def _report_drops(self) -> None:
        """Queues a ``fleet_client_dropped_events`` counter for drops not yet reported, so the fleet sees them."""
        for reason in DROP_REASONS:
            delta = self._drops[reason] - self._drops_reported[reason]
            if delta > 0 and len(self._buffer) < self.max_buffer:
                self._drops_reported[reason] = self._drops[reason]
                event = {"kind": "metric", "ts": ev.timestamp(), "name": "fleet_client_dropped_events",
                         "metric_kind": "counter", "value": delta, "labels": {"reason": reason}}
                self._buffer.append((json.dumps(event, separators=(",", ":")).encode("utf-8"), "metric"))

    def _request(self, method: str, path: str, body: Optional[bytes], timeout: float) -> Tuple[int, bytes]:
        conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/x-ndjson"} if body is not None else {}
            conn.request(method, self._base_path + path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read(1 << 20)
        finally:
            conn.close()


def _agent_url(agent_url: Optional[str], port: Optional[int]) -> str:
    """The agent's base URL from the arguments or the environment; a bad one is logged and the default used."""
    default = f"http://127.0.0.1:{DEFAULT_PORT}"
    try:
        if agent_url is None:
            agent_url = os.environ.get("FLEET_AGENT_URL") or "http://127.0.0.1:%d" % int(
                port or os.environ.get("FLEET_AGENT_PORT") or DEFAULT_PORT)
        url = urlsplit(agent_url)
        if url.scheme != "http" or not url.hostname:
            raise ValueError("expected http://HOST:PORT")
        url.port  # raises ValueError for a bad port
        return agent_url.rstrip("/")
    except ValueError as error:
        log.error("fleet_client: bad agent address %r (%s); using %s", agent_url or port, error, default)
        return default


def _step_key(execution_id: Any, node_id: Any, step_number: Any) -> Tuple[str, str]:
    return str(execution_id), f"#{step_number}" if step_number is not None else f"node:{node_id}"


def _trim(mapping: "collections.OrderedDict[Any, Any]", limit: int) -> None:
    while len(mapping) > limit:
        mapping.popitem(last=False)


def _error_message(answer: Any, payload: bytes) -> str:
    """The message of an error body (``{"error":{"message":…}}``), else the body's start."""
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        return str(answer["error"].get("message"))
    return payload[:200].decode("utf-8", errors="replace") or "(empty body)"
