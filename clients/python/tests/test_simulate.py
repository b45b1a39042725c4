"""The simulated executor: its timing model, and a run against a real agent and collector."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

from conftest import CLIENT_DIR, wait_until
from fleet_client.simulate import WORKFLOWS, simulate_step, workflow_steps


def steps(flags, faults=(), n=300, **kw):
    rng = random.Random(7)
    return [simulate_step(rng, "click", flags, list(faults), 0.02, **kw) for _ in range(n)]


def test_workflows_have_5_to_40_fixed_steps():
    for name in WORKFLOWS:
        plan = workflow_steps(name)
        assert 5 <= len(plan) <= 40
        assert plan == workflow_steps(name)
        assert len({node for node, _ in plan}) == len(plan)


def test_timings_are_in_realistic_ranges():
    results = steps({})
    perceived = [s for s in results if not s.cache_hit]
    assert 0.2 < sum(s.cache_hit for s in results) / len(results) < 0.5
    assert all(50 <= s.ocr_ms <= 400 and 20 <= s.ui_ms <= 300 and 100 <= s.analyze_ms <= 2000 for s in perceived)
    assert all(s.total_ms >= (s.ocr_ms or 0) + (s.ui_ms or 0) + s.analyze_ms for s in results)
    assert not any(s.degraded for s in results)


def test_slow_analysis_fault_unless_degraded():
    slow = [s for s in steps({}, ["slow-analysis"]) if not s.cache_hit]
    assert min(s.analyze_ms for s in slow) >= 3500
    fast = [s for s in steps({"degraded": True}, ["slow-analysis"]) if not s.cache_hit]
    assert max(s.analyze_ms for s in fast) < 500 and all(s.degraded for s in fast)


def test_flags_are_obeyed():
    results = [s for s in steps({"enable_ocr": False, "enable_ui_detection": False}) if not s.cache_hit]
    assert all(s.ocr_ms is None and s.ui_ms is None for s in results)
    capped = [s for s in steps({"analyze_timeout_ms": 3000}, ["slow-analysis"]) if not s.cache_hit]
    assert all(s.analyze_ms == 3000 and s.failed and s.error_type == "analysis_timeout" for s in capped)


def test_flaky_environments_fail_more():
    rng = random.Random(1)
    normal = sum(simulate_step(rng, "click", {}, [], 0.02).failed for _ in range(2000))
    flaky = sum(simulate_step(rng, "click", {}, [], 0.12).failed for _ in range(2000))
    assert flaky > 3 * normal > 0


def simulator(agent, tmp_path: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(CLIENT_DIR))
    return subprocess.Popen([sys.executable, "-m", "fleet_client.simulate", "--agent-port", str(agent.port),
                             "--seed", "3", "--speed", "50", "--pause", "0.1", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def executor_alive(collector, agent_id: str):
    status, body = collector.get("/v1/agents")
    return next((a["executor_alive"] for a in body["agents"] if a["agent_id"] == agent_id), None)


def test_the_simulator_feeds_the_fleet_and_obeys_the_flags_file(make_agent, collector, tmp_path: Path):
    flags, pid_file, cache = tmp_path / "flags.json", tmp_path / "executor.pid", tmp_path / "cache"
    agent = make_agent(sample_interval="1s", executor_pid_file=str(pid_file), cache_dir=str(cache))
    prefix = f"sim-{uuid.uuid4().hex[:8]}"
    flags.write_text(json.dumps({"degraded": True}))
    sim = simulator(agent, tmp_path, "--flags-file", str(flags), "--pid-file", str(pid_file), "--cache-dir",
                    str(cache), "--fault", "slow-analysis", "--fault", "cache-bloat", "--id-prefix", prefix,
                    "--workflows", "claims-triage,timesheet-approval", "--duration", "6", "--speed", "10")
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() == str(sim.pid), 10, "the pid file")
        # The agent's sampler sees the executor through the pid file, and the cache growing.
        wait_until(lambda: executor_alive(collector, agent.agent_id) is True, 30, "executor_alive at the collector")
        wait_until(lambda: collector.query("SELECT 1 FROM resource_samples WHERE agent_id = ? AND cache_bytes > ?",
                                           agent.agent_id, 1 << 20), 30, "cache_bytes at the collector")
        output, _ = sim.communicate(timeout=90)
    finally:
        if sim.poll() is None:
            sim.kill()
    assert sim.returncode == 0, output
    assert not pid_file.exists()
    runs = int(re.search(r"(\d+) executions;", output).group(1))
    assert runs >= 2 and " 0 dropped" in output, output
    wait_until(lambda: executor_alive(collector, agent.agent_id) is False, 30, "executor_alive false after exit")

    rows = collector.rows("SELECT execution_id, workflow_id, status, total_steps FROM executions "
                          "WHERE execution_id LIKE ? AND status IS NOT NULL", f"{prefix}-%", count=runs)
    assert {workflow for _, workflow, _, _ in rows} <= {"claims-triage", "timesheet-approval"}
    steps = collector.query("SELECT analyze_ms, degraded, cache_hit FROM steps WHERE execution_id LIKE ?", f"{prefix}-%")
    assert len(steps) >= 3
    assert all(degraded == 1 and analyze < 500 for analyze, degraded, _ in steps)  # degraded: the fault is masked
    assert sum(f.stat().st_size for f in cache.iterdir()) > 1 << 20  # cache-bloat: screenshots pile up


def test_slow_analysis_until_the_agent_sets_degraded_then_sigterm_cancels(make_agent, collector, tmp_path: Path):
    agent = make_agent()
    prefix = f"sim-{uuid.uuid4().hex[:8]}"
    pid_file, flags = tmp_path / "executor.pid", tmp_path / "flags.json"
    sim = simulator(agent, tmp_path, "--fault", "slow-analysis", "--id-prefix", prefix, "--pid-file", str(pid_file),
                    "--workflows", "order-reconciliation", "--flags-file", str(flags))

    def analyzed(degraded: int):
        return collector.query("SELECT analyze_ms FROM steps WHERE execution_id LIKE ? AND cache_hit = 0 "
                               "AND degraded = ?", f"{prefix}-%", degraded)

    try:
        wait_until(lambda: analyzed(0), 30, "a slow step at the collector", interval=0.3)
        # What the agent's set_flags action does: write a temp file and rename it over the flags file.
        (tmp_path / "flags.json.tmp").write_text(json.dumps({"degraded": True, "analyze_timeout_ms": 5000}))
        os.replace(tmp_path / "flags.json.tmp", flags)
        wait_until(lambda: analyzed(1), 30, "a degraded step at the collector", interval=0.3)
        sim.terminate()
        output, _ = sim.communicate(timeout=30)
    finally:
        if sim.poll() is None:
            sim.kill()
    assert sim.returncode == 0, output
    assert not pid_file.exists()
    assert all(analyze >= 3500 for (analyze,) in analyzed(0))
    assert all(analyze < 500 for (analyze,) in analyzed(1))
    statuses = collector.rows("SELECT status FROM executions WHERE execution_id LIKE ? AND status IS NOT NULL",
                              f"{prefix}-%")
    assert ("cancelled",) in statuses  # the run SIGTERM interrupted
