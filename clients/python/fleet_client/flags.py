"""The executor's flags file, written by the agent's ``set_flags`` action.

Contract: a JSON object, replaced atomically (temp file + rename), e.g.
``{"degraded": true, "enable_ocr": true, "enable_ui_detection": false, "analyze_timeout_ms": 5000}``.
Unknown keys are allowed and passed through. Reading never raises: a missing or
malformed file leaves the last good values (or the defaults) in force.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any, Dict, Mapping, Optional, Set, Tuple

DEFAULT_FLAGS: Dict[str, Any] = {"degraded": False, "enable_ocr": True, "enable_ui_detection": True}

_MISSING = object()


class FlagsFile:
    """Reads a flags file again whenever its identity, mtime or size changes."""

    def __init__(
        self,
        path: Optional[str],
        defaults: Optional[Mapping[str, Any]] = None,
        logger: Optional[logging.Logger] = None,
    ) -> None:
        self.path = path
        self.defaults: Dict[str, Any] = dict(DEFAULT_FLAGS if defaults is None else defaults)
        self._log = logger or logging.getLogger("fleet_client")
        self._lock = threading.Lock()
        self._seen: Optional[Tuple[int, int, int, int]] = None  # (device, inode, mtime_ns, size) last read
        self._missing_logged = False
        self._warned: Set[Tuple[str, str]] = set()
        self._values: Dict[str, Any] = dict(self.defaults)

    def get(self) -> Dict[str, Any]:
        """The current flags: the defaults overlaid with the file's last good contents."""
        with self._lock:
            try:
                self._refresh()
            except Exception:  # never into the executor
                self._log.exception("reading flags file %s failed", self.path)
            return dict(self._values)

    def flag(self, name: str, default: Any = None) -> Any:
        """One flag, as the type of ``default`` (bool, int, float or str); ``default`` when absent or of another type."""
        value = self.get().get(name, _MISSING)
        if value is _MISSING or value is None:
            return default
        if default is None:
            return value
        typed = _coerce(value, type(default))
        if typed is _MISSING:
            if (name, repr(value)) not in self._warned:
                self._warned.add((name, repr(value)))
                self._log.warning("flag %s is %r, not a %s; using %r", name, value, type(default).__name__, default)
            return default
        return typed

    def _refresh(self) -> None:
        if not self.path:
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if not self._missing_logged:
                self._log.info("flags file %s does not exist; using %s", self.path,
                               "the last values read" if self._seen else "the defaults")
                self._missing_logged = True
            return
        except OSError as error:
            self._log.warning("flags file %s: %s; keeping the current values", self.path, error)
            return
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        if key == self._seen:
            return
        self._seen = key
        self._missing_logged = False
        try:
            with open(self.path, "rb") as f:
                data = json.loads(f.read().decode("utf-8"))
        except (OSError, ValueError) as error:
            self._log.warning("flags file %s is unreadable (%s); keeping the current values", self.path, error)
            return
        if not isinstance(data, dict):
            self._log.warning("flags file %s holds %s, not a JSON object; keeping the current values",
                              self.path, type(data).__name__)
            return
        values = {**self.defaults, **data}
        if values != self._values:
            self._log.info("flags: %s", json.dumps(data, sort_keys=True))
        self._values = values


def _coerce(value: Any, kind: type) -> Any:
    if kind is bool:
        return value if isinstance(value, bool) else _MISSING
    if isinstance(value, bool):
        return _MISSING
    if kind is int:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return _MISSING
    if kind is float:
        return float(value) if isinstance(value, (int, float)) else _MISSING
    return value if isinstance(value, kind) else _MISSING
