"""Building events in FleetCore's JSON form, without processes."""

from __future__ import annotations

import enum
import json
import re

import pytest

from fleet_client import FleetClient, events, target_hash, timestamp
from fleet_client.events import Fields, InvalidEvent


@pytest.fixture
def fleet():
    client = FleetClient("http://127.0.0.1:1", register_atexit=False, flush_interval=60)
    yield client
    client.close(timeout=0)


def queued(fleet: FleetClient):
    return [json.loads(line) for line, _ in fleet._buffer]


def test_timestamps_are_rfc3339_utc_with_microseconds():
    assert timestamp(1795434530.4125) == "2026-11-23T11:48:50.412500Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", timestamp())


def test_a_step_in_the_protocols_json_form(fleet):
    fleet.on_execution_start("ex-9", "invoice", total_steps=2)
    fleet.on_step_complete("ex-9", "invoice", "n1", 1, "click", True, ocr_ms=85.25, ui_ms=40, analyze_ms=150.125,
                           total_ms=312.5, cache_hit=True, degraded=False, screenshot="ignored")
    fleet.on_execution_complete("ex-9", "failed", 1, 1, "timeout", duration_ms=900)
    started, step, finished = queued(fleet)
    assert started == {"kind": "execution_started", "ts": started["ts"], "execution_id": "ex-9",
                       "workflow_id": "invoice", "total_steps": 2}
    assert step == {"kind": "step_finished", "ts": step["ts"], "execution_id": "ex-9", "workflow_id": "invoice",
                    "node_id": "n1", "step_number": 1, "action_type": "click", "success": True, "ocr_ms": 85.25,
                    "ui_ms": 40, "analyze_ms": 150.125, "total_ms": 312.5, "cache_hit": True, "degraded": False}
    assert finished == {"kind": "execution_finished", "ts": finished["ts"], "execution_id": "ex-9",
                        "workflow_id": "invoice", "status": "failed", "total_steps": 2, "steps_completed": 1,
                        "steps_failed": 1, "duration_ms": 900, "error_message": "timeout"}


def test_step_start_gives_started_at_and_total_ms(fleet):
    fleet.on_step_start("e", "w", "n1", 7, "click")
    fleet.on_step_complete("e", "w", "n1", 7, "click", True)
    (step,) = queued(fleet)
    assert step["started_at"] <= step["finished_at"] == step["ts"]
    assert 0 <= step["total_ms"] < 1000


def test_recovery_error_and_resolution_fields(fleet):
    fleet.on_execution_start("e", "w")
    fleet.on_recovery_attempt("e", None, None, "retry", False, 12.25)
    fleet.record_error("timeout", TimeoutError("analysis"), "vlm", "FATAL", {"step": 3}, execution_id="e")
    fleet.record_resolution("abc", "template_match", True, 4, confidence=0.5, screen_state_hash="s", candidates=2)
    _, recovery, error, resolution = queued(fleet)
    assert {k: v for k, v in recovery.items() if k != "ts"} == {
        "kind": "recovery_attempted", "execution_id": "e", "workflow_id": "w", "strategy": "retry", "success": False,
        "duration_ms": 12.25}
    assert {k: v for k, v in error.items() if k != "ts"} == {
        "kind": "error", "error_type": "timeout", "message": "TimeoutError: analysis", "component": "vlm",
        "severity": "critical", "context": {"step": "3"}, "execution_id": "e", "workflow_id": "w"}
    assert {k: v for k, v in resolution.items() if k != "ts"} == {
        "kind": "resolution", "target_hash": "abc", "strategy": "template_match", "success": True, "duration_ms": 4,
        "confidence": 0.5, "screen_state_hash": "s", "candidates": 2}


def test_status_and_severity_spellings():
    class Status(enum.Enum):
        DONE = "COMPLETED"

    for given, sent in [("success", "success"), (Status.DONE, "success"), ("Error", "failed"), ("timed_out", "timeout"),
                        ("canceled", "cancelled"), ("??", "failed"), (None, "failed")]:
        f = Fields("execution_finished")
        f.choice("status", given, events.EXECUTION_STATUSES, events._STATUS_ALIASES, "failed")
        assert f.event["status"] == sent


def test_text_is_cut_on_a_character_boundary():
    f = Fields("error")
    f.message("message", "é" * 3000)  # 6000 bytes
    assert len(f.event["message"].encode()) == 4096 and f.event["message"] == "é" * 2048
    assert f.notes == ["message: longer than 4096 bytes; cut"]


def test_required_values_raise_invalid_event_naming_the_field():
    f = Fields("step_finished")
    with pytest.raises(InvalidEvent, match="^execution_id: must not be empty$"):
        f.id("execution_id", "")
    with pytest.raises(InvalidEvent, match="^step_number: out of range"):
        f.count("step_number", 10_000_001)
    with pytest.raises(InvalidEvent, match="^step_number: expected an integer$"):
        f.count("step_number", 1.5)
    with pytest.raises(InvalidEvent, match="^total_ms: negative duration$"):
        f.duration("total_ms", -1)
    with pytest.raises(InvalidEvent, match="^total_ms: out of range"):
        f.duration("total_ms", 2_592_000_001)
    with pytest.raises(InvalidEvent, match="^success: expected true or false"):
        f.flag("success", 2)
    f.count("step_number", 3.0)
    f.flag("success", "TRUE")
    assert f.event["step_number"] == 3 and f.event["success"] is True


def test_maps_are_bounded():
    f = Fields("error")
    f.string_map("context", {"k" * 200: "x", **{f"k{i}": "v" * 2000 for i in range(70)}})
    assert len(f.event["context"]) == 64
    assert all(len(v) == 1024 for v in f.event["context"].values())


def test_target_specs_hash_stably():
    assert target_hash({"text": "Save", "role": "button"}) == target_hash({"role": "button", "text": "Save"})
    assert re.fullmatch(r"[0-9a-f]{16}", target_hash("anything"))


def test_a_bad_agent_address_is_logged_not_raised(monkeypatch, caplog):
    for url in ("ftp://somewhere", "http://127.0.0.1:notaport", "127.0.0.1:7070"):
        with FleetClient(url, register_atexit=False) as fleet:
            assert fleet.agent_url == "http://127.0.0.1:7070"
    monkeypatch.setenv("FLEET_AGENT_PORT", "seventy")
    with FleetClient(register_atexit=False) as fleet:
        assert fleet.agent_url == "http://127.0.0.1:7070"
    monkeypatch.setenv("FLEET_AGENT_URL", "http://127.0.0.1:7171/")
    with FleetClient(register_atexit=False) as fleet:
        assert fleet.agent_url == "http://127.0.0.1:7171"
    assert "bad agent address 'ftp://somewhere'" in caplog.text
