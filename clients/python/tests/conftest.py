"""Fixtures that run a real fleet-collector and real fleet-agents.

Binaries come from $FLEET_BIN_DIR (fleet-agent, fleet-collector, fleetctl); without
it they are built with `swift build --scratch-path .build-py` in the repository.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import secrets
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

CLIENT_DIR = Path(__file__).resolve().parents[1]
REPO = CLIENT_DIR.parents[1]
sys.path.insert(0, str(CLIENT_DIR))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Process:
    """A child process whose output goes to a log file shown when a test fails."""

    def __init__(self, argv: List[str], log_path: Path) -> None:
        self.argv = argv
        self.log_path = log_path
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def stop(self, timeout: float = 15) -> Optional[int]:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code, self.proc = self.proc.returncode, None
        return code

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"{self.argv[0]} exited:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@pytest.fixture(scope="session")
def bin_dir() -> Path:
    if os.environ.get("FLEET_BIN_DIR"):
        path = Path(os.environ["FLEET_BIN_DIR"])
    else:
        scratch = REPO / ".build-py"
        if subprocess.run(["swift", "build", "--scratch-path", str(scratch)], cwd=REPO).returncode != 0:
            pytest.exit("swift build failed: fix the build or set FLEET_BIN_DIR", returncode=1)
        out = subprocess.run(["swift", "build", "--scratch-path", str(scratch), "--show-bin-path"], cwd=REPO,
                             check=True, capture_output=True, text=True)
        path = Path(out.stdout.strip())
    for name in ("fleet-agent", "fleet-collector", "fleetctl"):
        if not os.access(path / name, os.X_OK):
            pytest.exit(f"{path / name} is missing: set FLEET_BIN_DIR to the directory holding the Fleet binaries")
    return path


class PKI:
    def __init__(self, bin_dir: Path, path: Path) -> None:
        self.bin_dir, self.path = bin_dir, path
        subprocess.run([str(bin_dir / "fleetctl"), "pki", "init", "--dir", str(path),
                        "--collector-host", "localhost,127.0.0.1"], check=True, capture_output=True)

    def issue_agent(self, agent_id: str) -> Tuple[Path, Path]:
        cert, key = self.path / "agents" / f"{agent_id}.pem", self.path / "agents" / f"{agent_id}-key.pem"
        if not cert.exists():
            subprocess.run([str(self.bin_dir / "fleetctl"), "pki", "issue-agent", agent_id, "--dir", str(self.path)],
                           check=True, capture_output=True)
        return cert, key


@pytest.fixture(scope="session")
def pki(bin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(bin_dir, tmp_path_factory.mktemp("pki"))


class Collector:
    def __init__(self, bin_dir: Path, pki: PKI, work: Path) -> None:
        self.ingest_port, self.admin_port = free_port(), free_port()
        self.token = secrets.token_urlsafe(32)
        self.db_path = work / "fleet.sqlite"
        self.ca_file = pki.path / "ca.pem"
        config = work / "collector.toml"
        config.write_text(f"""
[server]
listen = "127.0.0.1:{self.ingest_port}"
ca_file = "{pki.path}/ca.pem"
cert_file = "{pki.path}/collector.pem"
key_file = "{pki.path}/collector-key.pem"

[admin]
listen = "127.0.0.1:{self.admin_port}"
token_sha256 = ["{hashlib.sha256(self.token.encode()).hexdigest()}"]

[store]
path = "{self.db_path}"
synchronous = "normal"
""")
        self.process = Process([str(bin_dir / "fleet-collector"), "run", "--config", str(config)], work / "collector.log")
        self.context = ssl.create_default_context(cafile=str(self.ca_file))

    def start(self) -> None:
        self.process.start()

        def ready() -> bool:
            self.process.check_alive()
            try:
                return self.get("/v1/health")[0] == 200
            except OSError:
                return False

        wait_until(ready, 30, "the collector's admin API")

    def get(self, path: str) -> Tuple[int, Any]:
        conn = http.client.HTTPSConnection("127.0.0.1", self.admin_port, context=self.context, timeout=10)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
            response = conn.getresponse()
            body = response.read()
            return response.status, json.loads(body) if body else None
        finally:
            conn.close()

    def execution(self, execution_id: str, steps: Optional[int] = None, finished: bool = True,
                  timeout: float = 30) -> Dict[str, Any]:
        """Waits until the collector shows the execution (with ``steps`` steps, finished)."""

        def look() -> Optional[Dict[str, Any]]:
            status, body = self.get(f"/v1/executions/{execution_id}")
            if status != 200:
                return None
            if steps is not None and len(body["steps"]) < steps:
                return None
            if finished and body.get("status") is None:
                return None
            return body

        return wait_until(look, timeout, f"execution {execution_id} at the collector", interval=0.2)

    def query(self, sql: str, *args: Any) -> List[tuple]:
        """Reads the collector's SQLite store directly (for kinds the admin API does not list)."""
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def rows(self, sql: str, *args: Any, count: int = 1, timeout: float = 30) -> List[tuple]:
        return wait_until(lambda: (lambda r: r if len(r) >= count else None)(self.query(sql, *args)), timeout,
                          f"{count} row(s) for {sql!r}", interval=0.2)


@pytest.fixture(scope="session")
def collector(bin_dir: Path, pki: PKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    c = Collector(bin_dir, pki, tmp_path_factory.mktemp("collector"))
    c.start()
    yield c
    c.process.stop()


class Agent:
    def __init__(self, bin_dir: Path, pki: PKI, collector: Collector, agent_id: str, work: Path,
                 port: Optional[int] = None, max_body: str = "8MiB", sample_interval: str = "60s",
                 executor_pid_file: str = "", cache_dir: str = "") -> None:
        cert, key = pki.issue_agent(agent_id)
        self.agent_id = agent_id
        self.port = port or free_port()
        self.work = work
        self.config = work / "agent.toml"
        self.config.write_text(f"""
agent_id = "{agent_id}"
data_dir = "{work}/data"

[collector]
url = "https://127.0.0.1:{collector.ingest_port}"
ca_file = "{pki.path}/ca.pem"
cert_file = "{cert}"
key_file = "{key}"
timeout = "5s"

[wal]
sync_interval = "20ms"

[shipper]
max_linger = "50ms"
backoff_max = "1s"

[loopback]
port = {self.port}
max_body_bytes = "{max_body}"

[sampler]
interval = "{sample_interval}"
executor_pid_file = "{executor_pid_file}"
cache_dir = "{cache_dir}"
nvidia_smi = ""
""")
        self.process = Process([str(bin_dir / "fleet-agent"), "run", "--config", str(self.config)], work / "agent.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Agent":
        self.process.start()

        def ready() -> bool:
            self.process.check_alive()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/v1/health")
                return conn.getresponse().status == 200
            except OSError:
                return False

        wait_until(ready, 30, f"agent {self.agent_id}'s loopback API")
        return self

    def stop(self) -> Optional[int]:
        return self.process.stop()


@pytest.fixture
def make_agent(bin_dir: Path, pki: PKI, collector: Collector, tmp_path: Path,
               request: pytest.FixtureRequest) -> Iterator[Callable[..., Agent]]:
    """make_agent(start=True, **options): a fresh agent (own id, WAL and port) for this test."""
    agents: List[Agent] = []

    def make(start: bool = True, **options: Any) -> Agent:
        name = "".join(ch if ch.isalnum() else "-" for ch in request.node.name)[:40].strip("-")
        work = tmp_path / f"agent{len(agents)}"
        work.mkdir()
        agent = Agent(bin_dir, pki, collector, f"py-{name}-{len(agents)}", work, **options)
        agents.append(agent)
        return agent.start() if start else agent

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for agent in agents:
        if failed:
            print(f"--- {agent.agent_id} log ---\n{agent.process.log_tail()}")
        agent.stop()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)

