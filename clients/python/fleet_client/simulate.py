"""A simulated RPA executor for the demo fleet.

    python3 -m fleet_client.simulate --agent-port 7070 --flags-file /tmp/pc-1/flags.json \\
        --cache-dir /tmp/pc-1/cache --pid-file /tmp/pc-1/executor.pid [--flaky] [--fault slow-analysis]

It replays workflows of 5–40 steps (screenshot → OCR + UI detection + analysis →
act), reports every execution, step, recovery, resolution and error through
:class:`~fleet_client.FleetClient`, and obeys the flags file the agent's
``set_flags`` action writes: ``degraded`` (fast, less accurate analysis),
``enable_ocr``, ``enable_ui_detection``, ``analyze_timeout_ms``. Time is
compressed: the reported timings are realistic, the wall clock runs ``--speed``
times faster. Faults: ``slow-analysis`` (analysis takes 3.5–9 s unless degraded)
and ``cache-bloat`` (screenshots pile up in the cache folder, never pruned).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .client import FleetClient
from .events import target_hash

FAULTS = ("slow-analysis", "cache-bloat")

# Workflow name → number of steps.
WORKFLOWS: Dict[str, int] = {
    "invoice-entry": 14,
    "payroll-export": 22,
    "vendor-onboarding": 31,
    "claims-triage": 9,
    "order-reconciliation": 38,
    "timesheet-approval": 6,
}

# Action type → (weight, simulated ms the action itself takes: low, high).
ACTIONS: Dict[str, Tuple[float, Tuple[float, float]]] = {
    "click": (0.38, (30, 150)),
    "type": (0.2, (120, 900)),
    "select": (0.1, (60, 250)),
    "extract": (0.1, (20, 120)),
    "scroll": (0.08, (50, 220)),
    "wait": (0.08, (400, 2000)),
    "hotkey": (0.06, (20, 80)),
}
TARGETED = ("click", "type", "select", "extract")
RECOVERY_STRATEGIES = ("retry", "scroll_and_retry", "wait_and_retry", "reanchor_template", "refocus_window", "ocr_fallback")
STEP_ERRORS = (
    ("element_not_found", "target element not found on screen"),
    ("ocr_mismatch", "expected text not recognised"),
    ("unexpected_dialog", "an unexpected dialog covers the target"),
    ("window_not_focused", "application window lost focus"),
)
RESOLVERS = ("template_match", "ocr_text", "ui_tree", "vlm")

log = logging.getLogger("fleet_client.simulate")


@dataclass
class StepOutcome:
    """One simulated attempt at a step, in simulated milliseconds."""

    ocr_ms: Optional[float]
    ui_ms: Optional[float]
    analyze_ms: Optional[float]
    total_ms: float
    cache_hit: bool
    degraded: bool
    failed: bool
    error_type: Optional[str] = None
    error: Optional[str] = None


def workflow_steps(workflow: str) -> List[Tuple[str, str]]:
    """The (node_id, action_type) of each step; the same on every run and every PC."""
    rng = random.Random(workflow)
    names, weights = zip(*((name, spec[0]) for name, spec in ACTIONS.items()))
    count = WORKFLOWS.get(workflow) or rng.randint(5, 40)
    return [(f"{workflow.split('-')[0]}-n{i:02d}", rng.choices(names, weights)[0]) for i in range(1, count + 1)]


def simulate_step(rng: random.Random, action: str, flags: Mapping[str, Any], faults: Sequence[str],
                  failure_rate: float, cache_hit_rate: float = 0.35) -> StepOutcome:
    """Perception and action timings of one step under the current flags and faults."""
    degraded = flags.get("degraded") is True
    cache_hit = rng.random() < cache_hit_rate
    ocr = ui = None
    if cache_hit:  # the screen matched a cached analysis: perception is mostly skipped
        analyze = rng.uniform(5, 40)
    else:
        if flags.get("enable_ocr", True) is not False:
            ocr = rng.triangular(50, 400, 140)
        if flags.get("enable_ui_detection", True) is not False:
            ui = rng.triangular(20, 300, 80)
        if degraded:
            analyze = rng.triangular(60, 300, 120)
        elif "slow-analysis" in faults:
            analyze = rng.uniform(3500, 9000)
        else:
            analyze = rng.triangular(100, 2000, 450)
    p_fail = failure_rate
    p_fail += 0.04 if degraded else 0
    p_fail += 0.05 if ocr is None and not cache_hit else 0
    p_fail += 0.03 if ui is None and not cache_hit else 0
    failed = rng.random() < p_fail
    error_type = error = None
    if failed:
        error_type, error = rng.choice(STEP_ERRORS)
    timeout = flags.get("analyze_timeout_ms")
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0 and analyze > timeout:
        analyze, failed = float(timeout), True
        error_type, error = "analysis_timeout", f"analysis timed out after {int(timeout)} ms"
    low, high = ACTIONS.get(action, (0, (30, 300)))[1]
    total = (ocr or 0) + (ui or 0) + analyze + rng.uniform(low, high) + rng.uniform(10, 50)
    return StepOutcome(ocr, ui, analyze, total, cache_hit, degraded, failed, error_type, error)


class Simulator:
    def __init__(self, client: FleetClient, args: argparse.Namespace) -> None:
        self.client = client
        self.args = args
        self.rng = random.Random(args.seed)
        self.workflows = [w for w in args.workflows.split(",") if w] if args.workflows else list(WORKFLOWS)
        self.failure_rate = args.failure_rate if args.failure_rate is not None else (0.12 if args.flaky else 0.02)
        self.recovery_rate = 0.45 if args.flaky else 0.7
        self.stopping = False
        self.runs = 0
        self.shots = 0

    def sleep(self, simulated_ms: float) -> None:
        time.sleep(min(3.0, max(0.01, simulated_ms / 1000 / self.args.speed)))

    def run(self) -> None:
        deadline = time.monotonic() + self.args.duration if self.args.duration else None
        while not self.stopping and (not self.args.executions or self.runs < self.args.executions):
            if deadline and time.monotonic() >= deadline:
                break
            self.execution(self.rng.choice(self.workflows))
            self.runs += 1
            if not self.stopping:
                time.sleep(self.rng.uniform(0.2, 1.0) * self.args.pause)

    def execution(self, workflow: str) -> None:
        c, rng = self.client, self.rng
        steps = workflow_steps(workflow)
        execution_id = f"{self.args.id_prefix}-{int(time.time() * 1000):x}-{self.runs}"
        c.on_execution_start(execution_id, workflow, total_steps=len(steps))
        budget_ms = 2500.0 * len(steps)  # the workflow's timeout
        elapsed = completed = failed = 0
        status, message = "success", None
        if rng.random() < 0.005:
            status, message = "cancelled", "cancelled by the operator"
            steps = steps[: rng.randint(1, len(steps))]
        for number, (node, action) in enumerate(steps, start=1):
            if self.stopping:
                status, message = "cancelled", "executor stopping"
                break
            flags = c.flags()
            outcome = simulate_step(rng, action, flags, self.args.fault, self.failure_rate)
            c.on_step_start(execution_id, workflow, node, number, action)
            self.sleep(outcome.total_ms)
            self.capture(execution_id, number, outcome.cache_hit)
            total = outcome.total_ms
            if action in TARGETED and not outcome.cache_hit:
                c.record_resolution(
                    target_hash({"workflow": workflow, "node": node}), rng.choice(RESOLVERS), not outcome.failed,
                    outcome.analyze_ms, confidence=round(rng.uniform(0.55, 0.99) if not outcome.failed else rng.uniform(0.1, 0.5), 3),
                    screen_state_hash=f"{rng.getrandbits(64):016x}", candidates=rng.randint(1, 12),
                    error_type=outcome.error_type, execution_id=execution_id, workflow_id=workflow)
            recovered = False
            if outcome.failed:
                for _ in range(2):  # at most two recovery strategies per failed step
                    strategy, took = rng.choice(RECOVERY_STRATEGIES), rng.uniform(200, 3000)
                    recovered = rng.random() < self.recovery_rate
                    self.sleep(took)
                    total += took
                    c.on_recovery_attempt(execution_id, workflow, node, strategy, recovered, took)
                    if recovered:
                        break
            ok = not outcome.failed or recovered
            elapsed += total
            c.on_step_complete(
                execution_id, workflow, node, number, action, ok, error=None if ok else outcome.error,
                ocr_ms=outcome.ocr_ms, ui_ms=outcome.ui_ms, analyze_ms=outcome.analyze_ms, total_ms=total,
                cache_hit=outcome.cache_hit, degraded=outcome.degraded)
            if ok:
                completed += 1
                continue
            failed += 1
            component = "vlm" if outcome.error_type == "analysis_timeout" else "executor"
            c.record_error(outcome.error_type, f"{outcome.error} (step {number}, node {node})", component,
                           "high", {"node_id": node, "action_type": action, "step_number": number},
                           execution_id=execution_id, workflow_id=workflow)
            status, message = "failed", f"step {number} ({node}) failed: {outcome.error}"
            break
        if status == "success" and elapsed > budget_ms:
            status, message = "timeout", f"ran {elapsed / 1000:.1f} s, over the {budget_ms / 1000:.0f} s budget"
        c.on_execution_complete(execution_id, status, completed, failed, message, workflow_id=workflow,
                                total_steps=len(steps), duration_ms=elapsed)
        log.info("%s %s: %s (%d/%d steps, %.1f s simulated)", workflow, execution_id, status, completed,
                 len(steps), elapsed / 1000)

    def capture(self, execution_id: str, number: int, cache_hit: bool) -> None:
        """Screenshots land in the cache folder; the executor prunes it unless the cache-bloat fault is on."""
        directory = self.args.cache_dir
        if not directory or cache_hit:
            return
        bloat = "cache-bloat" in self.args.fault
        size = self.rng.randint(256, 768) * 1024 if bloat else self.rng.randint(20, 120) * 1024
        try:
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, f"shot-{execution_id}-{number:03d}.png"), "wb") as f:
                f.write(self.rng.randbytes(size) if hasattr(self.rng, "randbytes") else os.urandom(size))
            self.shots += 1
            if not bloat and self.shots % 20 == 0:
                prune(directory, self.args.cache_keep)
        except OSError as error:
            log.warning("cache %s: %s", directory, error)


def prune(directory: str, keep: int) -> None:
    """Deletes all but the newest ``keep`` files of the cache folder."""
    entries = []
    for entry in os.scandir(directory):
        if entry.is_file():
            try:
                entries.append((entry.stat().st_mtime_ns, entry.path))
            except FileNotFoundError:
                pass
    for _, path in sorted(entries, reverse=True)[keep:]:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def write_pid_file(path: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(tmp, path)


def remove_pid_file(path: str) -> None:
    try:
        with open(path) as f:
            if f.read().strip() == str(os.getpid()):
                os.unlink(path)
    except OSError:
        pass


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python3 -m fleet_client.simulate", description=__doc__.split("\n\n")[0])
    p.add_argument("--agent-port", type=int, help="the agent's loopback port (default $FLEET_AGENT_PORT or 7070)")
    p.add_argument("--agent-url", help="the agent's loopback URL instead of --agent-port")
    p.add_argument("--flags-file", help="the flags file the agent writes (default $FLEET_FLAGS_FILE)")
    p.add_argument("--cache-dir", help="folder for screenshots (cache-bloat fills it)")
    p.add_argument("--cache-keep", type=int, default=100, help="screenshots kept when pruning (default 100)")
    p.add_argument("--pid-file", help="written while the simulator runs")
    p.add_argument("--workflows", help=f"comma-separated (default: all of {', '.join(WORKFLOWS)})")
    p.add_argument("--executions", type=int, default=0, help="stop after N executions (default: run until killed)")
    p.add_argument("--duration", type=float, default=0, help="stop after S seconds (default: run until killed)")
    p.add_argument("--speed", type=float, default=10.0, help="simulated time runs this many times faster (default 10)")
    p.add_argument("--pause", type=float, default=1.0, help="scale of the 0.2–1 s pause between executions")
    p.add_argument("--flaky", action="store_true", help="an environment where steps fail more often")
    p.add_argument("--failure-rate", type=float, help="chance that a step fails (default 0.02, 0.12 with --flaky)")
    p.add_argument("--fault", action="append", default=[], choices=FAULTS, help="inject a fault (repeatable)")
    p.add_argument("--seed", type=int, help="random seed, for repeatable runs")
    p.add_argument("--id-prefix", default=f"{socket.gethostname().split('.')[0] or 'sim'}-{os.getpid()}",
                   help="execution ids start with this (default: HOSTNAME-PID)")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    if args.speed <= 0:
        p.error("--speed must be positive")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    client = FleetClient(args.agent_url, port=args.agent_port, flags_file=args.flags_file)
    sim = Simulator(client, args)

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: finishing", signum)
        sim.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.pid_file:
        write_pid_file(args.pid_file)
    log.info("simulating %s against %s (faults: %s, failure rate %.2f)", ", ".join(sim.workflows),
             client.agent_url, ", ".join(args.fault) or "none", sim.failure_rate)
    try:
        sim.run()
    finally:
        client.close()
        if args.pid_file:
            remove_pid_file(args.pid_file)
        stats = client.stats()
        log.info("%d executions; %d events delivered, %d dropped %s", sim.runs, stats["delivered"],
                 stats["dropped_total"], {k: v for k, v in stats["dropped"].items() if v})
    return 0


if __name__ == "__main__":
    sys.exit(main())
