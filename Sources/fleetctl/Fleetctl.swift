import ArgumentParser
import FleetCore

/// `fleetctl`: the operator's command line for a Fleet installation.
@main
struct Fleetctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleetctl",
        abstract: "Operate a Fleet installation: certificates, status, recovery commands, reports.",
        discussion: """
            Exit codes: 0 success, 1 error, 2 usage error, 3 collector unreachable.
            """,
        version: FleetVersion.current,
        subcommands: [PKICommand.self, CommandsCommand.self, RecoverCommand.self]
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
