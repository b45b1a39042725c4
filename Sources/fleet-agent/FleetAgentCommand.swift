import ArgumentParser
import FleetAgent
import FleetCore
import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// `fleet-agent`: runs beside the RPA executor on one PC.
@main
struct FleetAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet-agent",
        abstract: "Record RPA executor events into a crash-safe WAL and ship them to the fleet collector.",
        discussion: """
            Every configuration key is documented, with its default, in agent/agent.toml.
            Exit codes: 0 clean shutdown (SIGTERM/SIGINT), 1 runtime error, 2 bad configuration or usage.
            """,
        version: FleetAgentInfo.version,
        subcommands: [Run.self, CheckConfig.self]
    )

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the agent until SIGTERM: the WAL is synced and a last flush is tried before it exits.")

        @Option(name: .long, help: "Path of agent.toml.")
        var config: String

        @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
        var logLevel: Logger.Level = .info

        func run() async throws {
            let configuration = try load(config)
            FleetAgentCommand.boundTheAllocator()
            FleetAgentCommand.oneEventLoop()
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = logLevel
                return handler
            }
            let logger = Logger(label: "fleet-agent")
            let agent: Agent
            do {
                agent = try Agent(configuration: configuration, configFile: config, logger: logger)
                try await agent.run()
            } catch let error as ConfigError {
                report("\(error)")
                throw ExitCode(2)
            } catch {
                report("\(error)")
                throw ExitCode(1)
            }
            logger.info("stopped")
        }
    }

    /// The agent must stay small beside the executor. glibc raises its mmap threshold after
    /// the first large buffer is freed, so later WAL segment reads (megabytes each, on
    /// several threads) come from the heap arenas and stay resident; a fixed threshold
    /// returns them to the system when freed, and two arenas are plenty for the agent.
    static func boundTheAllocator() {
        #if canImport(Glibc)
        // mallopt(3) is not in Swift's Glibc module (malloc.h): look it up. The option numbers are
        // glibc's ABI: M_TRIM_THRESHOLD -1, M_MMAP_THRESHOLD -3, M_ARENA_MAX -8.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        _ = mallopt(-3, 128 * 1024)
        _ = mallopt(-8, 2)
        // Fixing the mmap threshold also fixes the trim threshold at 128 KiB: the heap's top was
        // handed back and faulted in again about ten times a second at 1,000 events/s. Keep up
        // to 1 MiB of it.
        _ = mallopt(-1, 1 << 20)
        #endif
    }

    /// The agent's tasks, its loopback server and its HTTP client share one event loop
    /// (``Agent/run()``); blocking work gets two pool threads. Set before NIO's singletons are made.
    static func oneEventLoop() {
        NIOSingletons.groupLoopCountSuggestion = 1
        NIOSingletons.blockingPoolThreadCountSuggestion = 2
    }

    struct CheckConfig: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-config", abstract: "Validate an agent.toml and exit (0 valid, 2 invalid).")

        @Option(name: .long, help: "Path of agent.toml.")
        var config: String

        func run() throws {
            _ = try load(config)
            print("\(config): ok")
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

func load(_ path: String) throws -> AgentConfiguration {
    do {
        return try AgentConfiguration(file: path)
    } catch {
        report("\(error)")
        throw ExitCode(2)
    }
}

func report(_ message: String) {
    var stream = StandardErrorStream()
    print("fleet-agent: \(message)", to: &stream)
}
