import FleetCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Runs the collector's commands, one at a time, only those this agent's
/// own `[actions]` allow. Each id runs at most once (``CommandLedger``,
/// synced before the action starts); its `running` and final
/// `command_result` events go straight into the WAL, the final one synced,
/// so they reach the collector exactly once like every other event.
public final class CommandRunner: Service, Sendable {
    let wal: WriteAheadLog
    let ledger: CommandLedger
    let settings: Mutex<ActionSettings>
    /// Where `reload_config` reads `[actions]` from (nil: not available).
    let configFile: String?
    /// The `run_diagnostics` report.
    let diagnostics: @Sendable () -> String
    /// `flush`: syncs the WAL and wakes the shipper.
    let flush: @Sendable () -> String
    let logger: Logger
    private let queue: AsyncStream<FleetCommand>
    private let enqueue: AsyncStream<FleetCommand>.Continuation
    private let queued = Mutex<Set<String>>([])

    init(
        wal: WriteAheadLog, dataDirectory: String, settings: ActionSettings, configFile: String?,
        diagnostics: @escaping @Sendable () -> String, flush: @escaping @Sendable () -> String, logger: Logger
    ) throws {
        self.wal = wal
        ledger = try CommandLedger(path: dataDirectory + "/commands.log")
        self.settings = Mutex(settings)
        self.configFile = configFile
        self.diagnostics = diagnostics
        self.flush = flush
        self.logger = logger
        (queue, enqueue) = AsyncStream.makeStream(of: FleetCommand.self)
    }

    /// Commands from an acknowledgement or a long-poll; repeats are ignored.
    func receive(_ commands: [FleetCommand]) {
        for command in commands {
            let fresh = queued.withLock { $0.insert(command.id).inserted }
            if fresh { enqueue.yield(command) }
        }
    }

    public func run() async throws {
        for id in ledger.interrupted {
            try? report(
                CommandResult(
                    commandID: id, action: "unknown", status: .failed, durationMs: 0,
                    reason: "the agent stopped while this command ran; it is not run again (at most once)"),
                final: true)
            logger.warning("command interrupted by an agent restart; not run again", metadata: ["command": "\(id)"])
        }
        await cancelWhenGracefulShutdown {
            for await command in self.queue {
                await self.execute(command)
            }
        }
    }

    func execute(_ command: FleetCommand) async {
        do {
            guard try ledger.start(command.id) else {
                logger.debug("command already run; ignored", metadata: ["command": "\(command.id)"])
                return
            }
        } catch {
            // Without a durable record it could run twice: do not run it now (the collector delivers again).
            queued.withLock { _ = $0.remove(command.id) }
            logger.error("cannot record command start; not run", metadata: ["command": "\(command.id)", "error": "\(error)"])
            return
        }
        let start = ContinuousClock.now
        let action = Self.safeName(command.action)
        func finish(_ status: CommandStatus, output: String? = nil, exitCode: Int? = nil, reason: String? = nil) {
            let ms = (ContinuousClock.now - start).seconds * 1000
            let result = CommandResult(
                commandID: command.id, action: action, status: status, exitCode: exitCode,
                outputTail: output.map { $0.utf8Suffix(EventLimits.maxOutputBytes) },
                durationMs: ms, reason: reason.map { $0.utf8Prefix(EventLimits.maxMessageBytes) })
            do {
                try report(result, final: true)
            } catch {
                logger.error("cannot record command result", metadata: ["command": "\(command.id)", "error": "\(error)"])
            }
            let level: Logger.Level = status == .succeeded ? .info : .warning
            logger.log(
                level: level, "command finished",
                metadata: ["command": "\(command.id)", "action": "\(action)", "status": "\(status.rawValue)", "reason": "\(reason ?? "")"])
        }
        if Timestamp.now() >= command.deadline {
            finish(.expired, reason: "arrived after its deadline \(command.deadline.rfc3339); not run")
            return
        }
        let current = settings.withLock { $0 }
        guard current.allow.contains(command.action) else {
            finish(.refused, reason: "action \"\(action)\" is not allowed by this agent's configuration (actions.allow: \(current.allow.sorted().joined(separator: ", ")))")
            return
        }
        try? report(CommandResult(commandID: command.id, action: action, status: .running, durationMs: 0), final: false)
        do {
            let output = try await perform(command, settings: current)
            finish(output.status, output: output.output, exitCode: output.exitCode, reason: output.reason)
        } catch {
            finish(error.status, reason: error.description)
        }
    }

    func perform(_ command: FleetCommand, settings current: ActionSettings) async throws(ActionError) -> ActionOutput {
        // An [[actions.exec]] name is never a built-in's (ActionSettings refuses that).
        if let exec = current.exec[command.action] {
            return try await ExecAction.run(exec, args: command.args)
        }
        // The built-ins write, sync and walk files: off the agent's event loop.
        let result = await BlockingWork.run { Result { () throws(ActionError) in try self.performBuiltIn(command, settings: current) } }
        guard let result else { throw .failed("the agent is shutting down; \(Self.safeName(command.action)) was not run") }
        return try result.get()
    }

    func performBuiltIn(_ command: FleetCommand, settings current: ActionSettings) throws(ActionError) -> ActionOutput {
        switch command.action {
        case "set_flags":
            return try SetFlagsAction.run(command.args, settings: current.setFlags)
        case "clean_cache":
            return try CleanCacheAction.run(command.args, settings: current.cleanCache)
        case "flush":
            guard command.args.isEmpty else { throw .refused("flush takes no arguments") }
            return ActionOutput(output: flush())
        case "run_diagnostics":
            guard command.args.isEmpty else { throw .refused("run_diagnostics takes no arguments") }
            return ActionOutput(output: diagnostics())
        case "reload_config":
            guard command.args.isEmpty else { throw .refused("reload_config takes no arguments") }
            return try reload()
        default:
            throw .refused("unknown action \"\(Self.safeName(command.action))\"")
        }
    }

    /// Re-reads `[actions]` (the allow-list and the actions' settings) from the config file.
    func reload() throws(ActionError) -> ActionOutput {
        guard let configFile else { throw .failed("this agent was not started from a config file") }
        do {
            let fresh = try AgentConfiguration(file: configFile)
            settings.withLock { $0 = fresh.actions }
            return ActionOutput(output: "reloaded [actions] from \(configFile): allow = \(fresh.actions.allow.sorted().joined(separator: ", "))")
        } catch {
            throw .failed("\(configFile) was not reloaded: \(error)")
        }
    }

    /// Appends a result to the WAL; a final one is synced and then marked done in the ledger.
    func report(_ result: CommandResult, final: Bool) throws {
        var event = Event(.commandResult(result))
        if (try? event.validate()) == nil {
            // Never let a malformed result block the WAL: keep what is certainly valid.
            event = Event(
                .commandResult(
                    CommandResult(
                        commandID: result.commandID.utf8Prefix(64), action: "invalid", status: result.status,
                        durationMs: max(0, result.durationMs.isFinite ? result.durationMs : 0), reason: "the result could not be encoded")))
        }
        _ = try wal.append([event])
        if final {
            try wal.sync()
            try ledger.finish(result.commandID)
        }
    }

    /// An action name as the events allow it (the collector chooses it; it is only echoed back).
    static func safeName(_ name: String) -> String {
        let cleaned = String(name.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }.map(Character.init))
        return cleaned.isEmpty ? "invalid" : cleaned.utf8Prefix(64)
    }
}
