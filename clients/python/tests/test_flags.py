"""The flags file contract: a JSON object, replaced atomically; reading never raises."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from fleet_client import DEFAULT_FLAGS, FleetClient, FlagsFile


def write_atomically(path: Path, data) -> None:
    """What the agent's set_flags action does: write a temp file, then rename it over the old one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(data if isinstance(data, str) else json.dumps(data))
    os.replace(tmp, path)


def test_missing_file_gives_the_defaults(tmp_path: Path):
    flags = FlagsFile(str(tmp_path / "flags.json"))
    assert flags.get() == DEFAULT_FLAGS
    assert flags.flag("degraded", False) is False
    assert flags.flag("analyze_timeout_ms", 5000) == 5000
    assert FlagsFile(None).get() == DEFAULT_FLAGS


def test_the_file_overlays_the_defaults_and_unknown_keys_pass_through(tmp_path: Path):
    path = tmp_path / "flags.json"
    write_atomically(path, {"degraded": True, "enable_ui_detection": False, "analyze_timeout_ms": 2500,
                            "new_feature": {"level": 2}})
    flags = FlagsFile(str(path))
    assert flags.get() == {"degraded": True, "enable_ocr": True, "enable_ui_detection": False,
                           "analyze_timeout_ms": 2500, "new_feature": {"level": 2}}
    assert flags.flag("degraded", False) is True
    assert flags.flag("enable_ocr", False) is True  # from the defaults
    assert flags.flag("analyze_timeout_ms", 5000) == 2500
    assert flags.flag("analyze_timeout_ms", 5000.0) == 2500.0
    assert flags.flag("new_feature") == {"level": 2}


def test_changes_are_seen_on_the_next_call(tmp_path: Path):
    path = tmp_path / "flags.json"
    flags = FlagsFile(str(path))
    assert flags.flag("degraded", False) is False
    write_atomically(path, {"degraded": True})
    assert flags.flag("degraded", False) is True
    write_atomically(path, {"degraded": False})  # same size, same second: a new inode
    assert flags.flag("degraded", True) is False
    path.write_text(json.dumps({"degraded": True, "analyze_timeout_ms": 100}))  # rewritten in place
    assert flags.get()["analyze_timeout_ms"] == 100


def test_malformed_or_missing_files_keep_the_last_good_values(tmp_path: Path, caplog):
    path = tmp_path / "flags.json"
    flags = FlagsFile(str(path))
    write_atomically(path, {"degraded": True, "analyze_timeout_ms": 3000})
    good = flags.get()
    for bad in ("", "{", '{"degraded": tru', "[1, 2]", '"degraded"', "null", "\xff\xfe"):
        write_atomically(path, bad)
        assert flags.get() == good
        assert flags.flag("degraded", False) is True
    path.write_bytes(b"\x80\x81 not utf-8")
    assert flags.get() == good
    path.unlink()
    assert flags.get() == good
    assert "not a JSON object" in caplog.text and "unreadable" in caplog.text
    write_atomically(path, {"degraded": False})
    assert flags.get()["degraded"] is False and "analyze_timeout_ms" not in flags.get()


def test_values_of_the_wrong_type_give_the_default(tmp_path: Path, caplog):
    caplog.set_level(logging.WARNING, logger="fleet_client")
    path = tmp_path / "flags.json"
    write_atomically(path, {"degraded": "yes", "enable_ocr": 1, "analyze_timeout_ms": "fast", "ratio": True,
                            "cutoff": 2.5, "name": 7, "off": None})
    flags = FlagsFile(str(path))
    assert flags.flag("degraded", False) is False
    assert flags.flag("enable_ocr", True) is True
    assert flags.flag("analyze_timeout_ms", 5000) == 5000
    assert flags.flag("ratio", 0.5) == 0.5
    assert flags.flag("cutoff", 1) == 1  # 2.5 is not an int
    assert flags.flag("name", "x") == "x"
    assert flags.flag("off", 3) == 3
    assert flags.flag("degraded") == "yes"  # untyped: the raw value
    assert caplog.text.count("flag degraded is 'yes'") == 1
    flags.flag("degraded", False)
    assert caplog.text.count("flag degraded is 'yes'") == 1  # warned once


def test_a_directory_in_the_way_does_not_raise(tmp_path: Path):
    path = tmp_path / "flags.json"
    path.mkdir()
    assert FlagsFile(str(path)).get() == DEFAULT_FLAGS


def test_the_client_reads_flags_and_uses_degraded_for_steps(tmp_path: Path, monkeypatch):
    path = tmp_path / "flags.json"
    monkeypatch.setenv("FLEET_FLAGS_FILE", str(path))
    fleet = FleetClient("http://127.0.0.1:1", register_atexit=False, flag_defaults={"degraded": False, "mode": "full"})
    try:
        assert fleet.flags() == {"degraded": False, "mode": "full"}
        write_atomically(path, {"degraded": True})
        assert fleet.flag("degraded", False) is True
        assert fleet.flags() == {"degraded": True, "mode": "full"}
        fleet.on_step_complete("e", "w", "n1", 1, "click", True, total_ms=5)  # degraded taken from the flags
        line = fleet._buffer[-1][0]
        assert json.loads(line)["degraded"] is True
    finally:
        fleet.close(timeout=0)
