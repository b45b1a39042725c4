"""The client against a real fleet-agent shipping to a real fleet-collector."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid

from conftest import CLIENT_DIR, wait_until
from fleet_client import FleetClient


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def client(agent, **options) -> FleetClient:
    return FleetClient(agent.url, register_atexit=False, **options)


def run_steps(fleet: FleetClient, execution_id: str, workflow_id: str, numbers, total_ms: float = 250.0) -> None:
    for n in numbers:
        fleet.on_step_complete(execution_id, workflow_id, f"n{n}", n, "click", True, ocr_ms=80, ui_ms=30,
                               analyze_ms=120, total_ms=total_ms)


def test_hooks_reach_the_collector(make_agent, collector):
    agent = make_agent()
    ex, wf = new_id("ex"), new_id("invoice")
    with client(agent) as fleet:
        fleet.on_execution_start(ex, wf, total_steps=3)
        fleet.on_step_start(ex, wf, "n1", 1, "click")
        time.sleep(0.05)
        fleet.on_step_complete(ex, wf, "n1", 1, "click", True, ocr_ms=85.25, ui_ms=40, analyze_ms=150.125,
                               cache_hit=True)
        fleet.on_step_complete(ex, None, "n2", 2, "type", False, error="element not found", total_ms=812.5,
                               degraded=True)
        fleet.on_recovery_attempt(ex, None, "n2", "scroll_and_retry", True, 420.0, command_id="cmd-7")
        fleet.on_step_complete(ex, wf, "n3", 3, "wait", True, total_ms=1000)
        fleet.record_error("element_not_found", "no Save button", "executor", "high", {"node_id": "n2", "attempt": 1},
                           execution_id=ex)
        fleet.record_resolution({"text": "Save"}, "ocr_text", True, 95.5, confidence=0.93, candidates=4,
                                execution_id=ex)
        fleet.on_execution_complete(ex, "success")
        assert fleet.flush(15)
        stats = fleet.stats()
    assert stats["delivered"] == 8, stats
    assert stats["dropped_total"] == 0 and stats["repaired"] == 0, stats

    body = collector.execution(ex, steps=3)
    assert body["agent_id"] == agent.agent_id
    assert body["workflow_id"] == wf
    assert body["status"] == "success"
    assert body["duration_ms"] > 0  # measured by the client since on_execution_start
    steps = sorted(body["steps"], key=lambda s: s["step_number"])
    assert [(s["node_id"], s["action_type"], s["success"], s.get("error")) for s in steps] == [
        ("n1", "click", True, None), ("n2", "type", False, "element not found"), ("n3", "wait", True, None)]
    assert 40 <= steps[0]["total_ms"] < 5000  # measured from on_step_start
    assert steps[1]["total_ms"] == 812.5

    # Counts the client kept since on_execution_start.
    assert collector.query(
        "SELECT total_steps, steps_completed, steps_failed FROM executions WHERE execution_id = ?", ex) == [(3, 2, 1)]
    assert collector.query(
        "SELECT ocr_ms, ui_ms, analyze_ms, cache_hit, degraded FROM steps WHERE execution_id = ? ORDER BY step_number",
        ex) == [(85.25, 40.0, 150.125, 1, 0), (None, None, None, 0, 1), (None, None, None, 0, 0)]

    status, detail = collector.get(f"/v1/workflows/{wf}")
    assert status == 200
    assert [(r["strategy"], r["attempts"], r["successes"]) for r in detail["recoveries"]] == [("scroll_and_retry", 1, 1)]
    assert collector.query("SELECT node_id, command_id FROM recoveries WHERE execution_id = ?", ex) == [("n2", "cmd-7")]

    (error,) = collector.rows("SELECT error_type, message, component, severity, context, workflow_id FROM errors "
                              "WHERE execution_id = ?", ex)
    assert error[:4] == ("element_not_found", "no Save button", "executor", "high")
    assert json.loads(error[4]) == {"node_id": "n2", "attempt": "1"}
    assert error[5] == wf  # taken from on_execution_start
    (resolution,) = collector.rows("SELECT strategy, success, duration_ms, confidence, candidates, length(target_hash) "
                                   "FROM resolutions WHERE execution_id = ?", ex)
    assert resolution == ("ocr_text", 1, 95.5, 0.93, 4, 16)


def test_hooks_never_block_or_raise_while_the_agent_is_down_and_deliver_once_it_is_up(make_agent, collector):
    agent = make_agent(start=False)
    ex, wf = new_id("ex"), new_id("payroll")
    fleet = client(agent, retry_max=0.5)
    try:
        started = time.monotonic()
        fleet.on_execution_start(ex, wf, total_steps=5)
        run_steps(fleet, ex, wf, range(1, 6))
        fleet.on_execution_complete(ex, "completed")
        assert time.monotonic() - started < 0.5  # no hook waited for the network
        assert fleet.flush(1.0) is False
        stats = fleet.stats()
        assert stats["queued"] == 7 and stats["delivered"] == 0 and stats["dropped_total"] == 0
        assert stats["agent_available"] is False
        assert "not listening" in stats["last_error"]

        agent.start()
        assert fleet.flush(20), fleet.stats()
        assert fleet.stats()["delivered"] == 7
    finally:
        fleet.close()
    body = collector.execution(ex, steps=5)
    assert body["status"] == "success"  # "completed" maps to success
    assert sorted(s["step_number"] for s in body["steps"]) == [1, 2, 3, 4, 5]


def test_an_agent_restart_loses_nothing(make_agent, collector):
    agent = make_agent()
    ex, wf = new_id("ex"), new_id("claims")
    with client(agent, retry_max=0.3) as fleet:
        fleet.on_execution_start(ex, wf, total_steps=30)
        run_steps(fleet, ex, wf, range(1, 11))
        assert fleet.flush(10)
        assert agent.stop() == 0
        run_steps(fleet, ex, wf, range(11, 21))
        time.sleep(0.5)  # a few failed attempts
        agent.start()
        run_steps(fleet, ex, wf, range(21, 31))
        fleet.on_execution_complete(ex, "success")
        assert fleet.flush(20), fleet.stats()
        stats = fleet.stats()
    assert stats["delivered"] == 32 and stats["dropped_total"] == 0, stats
    assert stats["retries"] >= 1
    body = collector.execution(ex, steps=30)
    assert sorted(s["step_number"] for s in body["steps"]) == list(range(1, 31))


def test_the_buffer_is_bounded_drops_the_oldest_and_reports_the_drops(make_agent, collector, caplog):
    agent = make_agent(start=False)
    ex, wf = new_id("ex"), new_id("vendor")
    with client(agent, max_buffer=40, retry_max=0.3) as fleet:
        fleet.on_execution_start(ex, wf, total_steps=59)
        run_steps(fleet, ex, wf, range(1, 60))
        fleet.on_execution_complete(ex, "failed", 58, 1, "ran out of patience")
        stats = fleet.stats()
        assert stats["queued"] == 40
        assert stats["dropped"]["overflow"] == 21 and fleet.dropped == 21
        assert "buffer full" in caplog.text

        agent.start()
        assert fleet.flush(20), fleet.stats()
        time.sleep(0.3)  # the drop report is queued after the first delivery
        assert fleet.flush(10)
        stats = fleet.stats()
    assert stats["delivered"] == 41, stats  # 40 events and the fleet_client_dropped_events counter

    body = collector.execution(ex, steps=39)
    assert sorted(s["step_number"] for s in body["steps"]) == list(range(21, 60))  # the newest were kept
    assert body["status"] == "failed" and body.get("error_message") == "ran out of patience"
    (metric,) = collector.rows("SELECT kind, value, labels FROM metric_points WHERE agent_id = ? "
                               "AND name = 'fleet_client_dropped_events'", agent.agent_id)
    assert metric[:2] == ("counter", 21.0) and json.loads(metric[2]) == {"reason": "overflow"}


def test_bad_values_are_logged_repaired_or_dropped_never_raised(make_agent, collector, caplog):
    caplog.set_level(logging.WARNING, logger="fleet_client")
    agent = make_agent()
    ex, wf = new_id("ex"), new_id("triage")
    nan = float("nan")
    with client(agent) as fleet:
        calls = [
            lambda: fleet.on_execution_start(ex, wf, total_steps=-1),  # bad optional count: left out
            lambda: fleet.on_step_complete(ex, wf, "n1", 1, "click", True, ocr_ms=nan, ui_ms=-5, analyze_ms="slow",
                                           total_ms=300, error=ValueError("x" * 5000)),  # repaired
            lambda: fleet.on_step_complete(ex, wf, "n2", 2, "click", True, total_ms=nan),  # required: dropped
            lambda: fleet.on_step_complete(ex, wf, "n3", "three", "click", True, total_ms=1),  # dropped
            lambda: fleet.on_step_complete(ex, wf, "x" * 300, 4, "click", True, total_ms=1),  # id too long: dropped
            lambda: fleet.on_step_complete(ex, wf, "n5", 5, "click", "maybe", total_ms=1),  # dropped
            lambda: fleet.on_step_complete(ex),  # bad call: dropped
            lambda: fleet.on_recovery_attempt(new_id("unknown"), None, None, "retry", True, 10),  # no workflow: dropped
            lambda: fleet.record_error("oops", "m" * 10_000, "ocr", "catastrophic",
                                       {"k": object(), "": "empty key", "n": None, "list": [1, 2]}),  # repaired
            lambda: fleet.record_resolution("t1", "vlm", True, 10, confidence=7),  # confidence left out
            lambda: fleet.record_metric("queue_depth", float("inf")),  # dropped
            lambda: fleet.record({"no": "kind"}),  # dropped
            lambda: fleet.on_execution_complete(ex, "exploded", 1, 0),  # unknown status: sent as failed
        ]
        for call in calls:
            assert call() is None
        assert fleet.flush(15)
        stats = fleet.stats()
    assert stats["dropped"]["invalid"] == 8, stats
    assert stats["repaired"] == 5, stats
    assert stats["dropped"]["rejected"] == 0, stats
    reports = wait_until(lambda: (lambda rows: rows if sum(v for (v,) in rows) == 8 else None)(collector.query(
        "SELECT value FROM metric_points WHERE agent_id = ? AND name = 'fleet_client_dropped_events'", agent.agent_id)),
        30, "the drop report at the collector")
    assert stats["delivered"] == 5 + len(reports), stats
    for fragment in ("total_ms: must be a finite number", "step_number: expected a number", "node_id: longer than 256",
                     "success: expected true or false", "bad call", "workflow_id: required field is missing",
                     "error: longer than 4096 bytes; cut", 'severity: unknown value "catastrophic"',
                     'status: unknown value "exploded"', "value: must be a finite number"):
        assert fragment in caplog.text

    body = collector.execution(ex, steps=1)
    assert body["status"] == "failed"
    assert len(body["steps"][0]["error"].encode()) == 4096
    (error,) = collector.rows("SELECT severity, length(message), context FROM errors WHERE error_type = 'oops' "
                              "AND agent_id = ?", agent.agent_id)
    assert error[:2] == ("medium", 4096)
    context = json.loads(error[2])
    assert context["n"] == "" and context["list"] == "[1, 2]" and "" not in context and context["k"].startswith("<object")


def test_lines_the_agent_rejects_are_logged_with_its_reason(make_agent, collector, caplog):
    caplog.set_level(logging.WARNING, logger="fleet_client")
    agent = make_agent()
    with client(agent, flush_interval=0.5) as fleet:
        # One request with a good and a bad line: 200, the bad line listed.
        fleet.record_metric("pages_processed", 3, "counter", {"workflow": "invoice"})
        fleet.record({"kind": "step_finished", "execution_id": "e", "workflow_id": "w"})
        assert fleet.flush(10)
        # One request with only bad lines: 400.
        fleet.record({"kind": "teleport", "where": "mars"})
        assert fleet.flush(10)
        stats = fleet.stats()
    assert stats["delivered"] == 3, stats  # the metric and one fleet_client_dropped_events counter per rejection
    assert stats["dropped"]["rejected"] == 2, stats
    assert "agent rejected an event (step_finished): node_id: required field is missing" in caplog.text
    assert "agent rejected an event (teleport): kind: unknown value" in caplog.text


def test_requests_over_the_agents_body_limit_are_split(make_agent, collector, caplog):
    agent = make_agent(max_body="2KiB")
    ex, wf = new_id("ex"), new_id("orders")
    with client(agent, retry_max=0.2) as fleet:
        fleet.on_execution_start(ex, wf, total_steps=30)
        run_steps(fleet, ex, wf, range(1, 31))  # ~9 KiB in one request: too large, split until it fits
        fleet.record_error("huge", "m" * 4000, "executor", "low")  # one event over 2 KiB: cannot be sent
        fleet.on_execution_complete(ex, "success")
        assert fleet.flush(20), fleet.stats()
        stats = fleet.stats()
    assert stats["dropped"]["too_large"] == 1, stats
    assert stats["delivered"] >= 32, stats
    assert "larger than the agent takes" in caplog.text
    body = collector.execution(ex, steps=30)
    assert sorted(s["step_number"] for s in body["steps"]) == list(range(1, 31))


def test_close_delivers_what_is_queued(make_agent, collector):
    agent = make_agent()
    ex, wf = new_id("ex"), new_id("timesheet")
    fleet = client(agent, flush_interval=10)  # nothing would be sent for 10 s but for close()
    fleet.on_execution_start(ex, wf, total_steps=2)
    run_steps(fleet, ex, wf, [1, 2])
    fleet.on_execution_complete(ex, "success")
    fleet.close()
    assert fleet.stats()["delivered"] == 4
    fleet.on_execution_start(new_id("ex"), wf)  # after close: dropped and counted, not raised
    assert fleet.stats()["dropped"]["closed"] == 1
    collector.execution(ex, steps=2)


def test_events_queued_at_interpreter_exit_are_delivered(make_agent, collector):
    agent = make_agent()
    ex, wf = new_id("ex"), new_id("atexit")
    script = f"""
import sys
sys.path.insert(0, {str(CLIENT_DIR)!r})
from fleet_client import FleetClient
fleet = FleetClient({agent.url!r}, flush_interval=30)
fleet.on_execution_start({ex!r}, {wf!r}, total_steps=1)
fleet.on_step_complete({ex!r}, {wf!r}, "n1", 1, "click", True, total_ms=10)
fleet.on_execution_complete({ex!r}, "success")
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
    body = collector.execution(ex, steps=1)
    assert body["status"] == "success"


def test_the_client_reads_the_agents_health(make_agent):
    agent = make_agent()
    with client(agent) as fleet:
        health = fleet.health()
    assert health is not None and health["agent_id"] == agent.agent_id
    with FleetClient("http://127.0.0.1:1", register_atexit=False) as nowhere:
        assert nowhere.health() is None


def test_hooks_may_be_called_from_many_threads(make_agent, collector):
    agent = make_agent()
    wf = new_id("parallel")
    runs = [new_id("ex") for _ in range(4)]
    with client(agent, batch_size=50) as fleet:
        def execute(ex: str) -> None:
            fleet.on_execution_start(ex, wf, total_steps=100)
            for n in range(1, 101):
                fleet.on_step_start(ex, wf, f"n{n}", n, "click")
                fleet.on_step_complete(ex, None, f"n{n}", n, "click", True)
            fleet.on_execution_complete(ex, "success")

        threads = [threading.Thread(target=execute, args=(ex,)) for ex in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert fleet.flush(20)
        stats = fleet.stats()
    assert stats["delivered"] == 4 * 102 and stats["dropped_total"] == 0, stats
    for ex in runs:
        body = collector.execution(ex, steps=100)
        assert body["status"] == "success"
        assert sorted(s["step_number"] for s in body["steps"]) == list(range(1, 101))
    assert collector.query("SELECT DISTINCT steps_completed, steps_failed FROM executions WHERE workflow_id = ?",
                           wf) == [(100, 0)]


def test_a_forked_child_reports_through_its_own_thread(make_agent, collector):
    agent = make_agent()
    parent_ex, child_ex, wf = new_id("ex"), new_id("ex"), new_id("forked")
    with client(agent, flush_interval=5) as fleet:
        fleet.on_execution_start(parent_ex, wf)  # queued in the parent when it forks
        pid = os.fork()
        if pid == 0:  # the child: report, deliver, leave without running the parent's cleanup
            try:
                fleet.on_execution_start(child_ex, wf)
                fleet.on_execution_complete(child_ex, "success")
                os._exit(0 if fleet.flush(15) and fleet.stats()["delivered"] == 2 else 1)
            finally:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        fleet.on_execution_complete(parent_ex, "success")
    assert fleet.stats()["delivered"] == 2
    assert collector.execution(child_ex)["status"] == "success"
    assert collector.execution(parent_ex)["status"] == "success"
