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
        subcommands: [PKICommand.self]
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
    var stderr = StandardError()
    print("fleetctl: \(message)", to: &stderr)
}

/// Standard error as a `TextOutputStream`, written with write(2).
struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var string = string
        string.withUTF8 { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let n = systemWrite(STDERR_FILENO, base + offset, buffer.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
private let systemWrite = Glibc.write
#elseif canImport(Musl)
import Musl
private let systemWrite = Musl.write
#elseif canImport(Darwin)
import Darwin
private let systemWrite = Darwin.write
#endif
