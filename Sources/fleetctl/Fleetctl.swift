import ArgumentParser
import FleetCore

/// `fleetctl`: the operator's command line for a Fleet installation.
@main
struct Fleetctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleetctl",
        abstract: "Operate a Fleet installation: certificates, status, recovery commands, reports.",
        discussion: """
            Every read command takes --json (the admin API's response, schema in docs/API.md).
            The collector and credentials come from flags, else FLEET_COLLECTOR, FLEET_TOKEN,
            FLEET_CERT, FLEET_KEY, FLEET_CA, else ~/.config/fleet/fleetctl.toml (collector,
            token, cert_file, key_file, ca_file).
            Exit codes: 0 success, 1 error, 2 usage error, 3 collector unreachable.
            """,
        version: FleetVersion.current,
        subcommands: [
            StatusCommand.self, AgentsCommand.self, AgentCommand.self, WorkflowsCommand.self, WorkflowCommand.self, EnvsCommand.self,
            ExecutionsCommand.self, AlertsCommand.self, CommandsCommand.self, RecoverCommand.self, RulesCommand.self, ReportCommand.self, PKICommand.self,
        ]
    )
}

/// Exit codes documented in `fleetctl --help`.
enum ExitStatus {
    static let failure = ExitCode(1)
    static let usage = ExitCode(2)
    static let unreachable = ExitCode(3)
}

/// Prints a one-line error to standard error.
func printError(_ message: String) {
    var stderr = StandardErrorStream()
    print("fleetctl: \(message)", to: &stderr)
}
