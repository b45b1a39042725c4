"""Fleet client for RPA executors: events to the local fleet-agent, flags from it.

    from fleet_client import FleetClient
    fleet = FleetClient(flags_file="/var/lib/rpa/flags.json")
    fleet.on_execution_start("ex-1", "invoice-entry", total_steps=12)
    ...
    fleet.close()

Standard library only; see README.md.
"""

from .client import DEFAULT_PORT, DROP_REASONS, FleetClient
from .events import InvalidEvent, target_hash, timestamp
from .flags import DEFAULT_FLAGS, FlagsFile

__all__ = [
    "DEFAULT_FLAGS",
    "DEFAULT_PORT",
    "DROP_REASONS",
    "FlagsFile",
    "FleetClient",
    "InvalidEvent",
    "target_hash",
    "timestamp",
]
__version__ = "0.1.0"
