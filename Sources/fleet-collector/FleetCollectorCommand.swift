import ArgumentParser
import FleetCollector

/// `fleet-collector`: the one central process of a fleet.
@main
struct FleetCollectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet-collector",
        abstract: "Receive agents' batches over mutual TLS, store them in SQLite, serve summaries and /metrics.",
        discussion: """
            The collector's configuration is documented in collector/collector.toml.
            """,
        version: FleetCollectorInfo.version
    )
}
