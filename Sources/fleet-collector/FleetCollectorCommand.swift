import ArgumentParser
import FleetCollector
import FleetCore
import Logging

/// `fleet-collector`: the one central process of a fleet.
@main
struct FleetCollectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet-collector",
        abstract: "Receive agents' batches over mutual TLS, store them in SQLite, serve summaries and /metrics.",
        discussion: """
            Every configuration key is documented, with its default, in collector/collector.toml.
            Exit codes: 0 clean shutdown (SIGTERM/SIGINT), 1 runtime error, 2 bad configuration or usage.
            """,
        version: FleetVersion.current,
        subcommands: [Run.self, CheckConfig.self]
    )

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the collector until SIGTERM; queued batches are committed before it exits.")

        @Option(name: .long, help: "Path of collector.toml.")
        var config: String

        @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
        var logLevel: Logger.Level = .info

        func run() async throws {
            let configuration = try loadConfiguration(config)
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = logLevel
                return handler
            }
            let logger = Logger(label: "fleet-collector")
            let collector: Collector
            do {
                collector = try Collector(configuration: configuration, logger: logger)
            } catch let error as ConfigError {
                printError("\(error)")
                throw ExitCode(2)
            } catch {
                printError("cannot open the store at \(configuration.store.path): \(error)")
                throw ExitCode(1)
            }
            do {
                try await collector.run()
            } catch let error as ConfigError {
                printError("\(error)")
                throw ExitCode(2)
            }
            logger.info("stopped")
        }
    }

    struct CheckConfig: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-config", abstract: "Validate a collector.toml and exit (0 valid, 2 invalid).")

        @Option(name: .long, help: "Path of collector.toml.")
        var config: String

        func run() throws {
            _ = try loadConfiguration(config)
            print("\(config): ok")
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

func loadConfiguration(_ path: String) throws -> CollectorConfiguration {
    do {
        return try CollectorConfiguration(file: path)
    } catch {
        printError("\(error)")
        throw ExitCode(2)
    }
}

func printError(_ message: String) {
    var stream = StandardErrorStream()
    print("fleet-collector: \(message)", to: &stream)
}
