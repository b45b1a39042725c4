import ArgumentParser
import FleetAgent

/// `fleet-agent`: runs beside the RPA executor on one PC.
@main
struct FleetAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet-agent",
        abstract: "Record RPA executor events into a crash-safe WAL and ship them to the fleet collector.",
        discussion: """
            The agent's configuration is documented in agent/agent.toml.
            """,
        version: FleetAgentInfo.version
    )
}
