import FleetCore
import Foundation
import Synchronization

/// An `[[actions.exec]]` program: a fixed argv, with `{param}` placeholders
/// filled from typed, allow-listed arguments — never a shell, so quotes,
/// `;`, `$(…)` and the like reach the program as plain characters. It runs
/// in its own process group with a minimal environment; past `timeout` the
/// group gets SIGTERM, then SIGKILL two seconds later. The last `output_cap`
/// bytes of stdout and stderr come back.
enum ExecAction {
    /// The argv with parameters filled in; refuses unknown, mistyped or disallowed arguments.
    static func argv(_ exec: ActionSettings.Exec, args: [String: CommandValue]) throws(ActionError) -> [String] {
        for (key, value) in args.sorted(by: { $0.key < $1.key }) {
            guard let param = exec.params[key] else {
                throw .refused("argument \"\(key)\" is not allowed for \(exec.name) (params: \(exec.params.keys.sorted().joined(separator: ", ")))")
            }
            guard param.type.accepts(value) else { throw .refused("argument \"\(key)\" must be a \(param.type.rawValue), got \(value.typeName)") }
            if let allowed = param.allowed, !allowed.contains(where: { $0.description == value.description }) {
                throw .refused("argument \"\(key)\" = \"\(value)\" is not one of \(allowed.map(\.description).joined(separator: ", "))")
            }
            let number: Double? =
                switch value {
                case .int(let i): Double(i)
                case .double(let d): d
                default: nil
                }
            if let number, let min = param.min, number < min { throw .refused("argument \"\(key)\" is below \(min)") }
            if let number, let max = param.max, number > max { throw .refused("argument \"\(key)\" is above \(max)") }
            if case .string(let s) = value, s.utf8.count > 1024 || s.contains("\0") {
                throw .refused("argument \"\(key)\" is longer than 1024 bytes or contains NUL")
            }
        }
        var values: [String: String] = [:]
        for (name, param) in exec.params {
            guard let value = args[name] ?? param.defaultValue else {
                throw .refused("argument \"\(name)\" is required by \(exec.name)")
            }
            values[name] = value.description
        }
        return exec.argv.map { element in
            var filled = element
            for (name, value) in values { filled = filled.replacingOccurrences(of: "{\(name)}", with: value) }
            return filled
        }
    }

    static func run(_ exec: ActionSettings.Exec, args: [String: CommandValue]) async throws(ActionError) -> ActionOutput {
        var argv = try argv(exec, args: args)
        if !exec.user.isEmpty {
            guard geteuid() == 0 else {
                throw .refused("\(exec.name) runs as user \"\(exec.user)\", which needs the agent to run as root")
            }
            guard let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                throw .refused("\(exec.name) runs as user \"\(exec.user)\" but setpriv (util-linux) is not installed")
            }
            guard let pw = getpwnam(exec.user) else { throw .refused("user \"\(exec.user)\" does not exist") }
            argv = [setpriv, "--reuid=\(pw.pointee.pw_uid)", "--regid=\(pw.pointee.pw_gid)", "--init-groups", "--"] + argv
        }
        guard FileManager.default.isExecutableFile(atPath: argv[0]) else {
            throw .failed("\(argv[0]) is not an executable file")
        }
        let command = argv
        let result: Result<ActionOutput, ActionError> = await withCheckedContinuation { continuation in
            // Blocking waits on a thread of their own, not on the cooperative pool.
            Thread.detachNewThread {
                continuation.resume(returning: Result { () throws(ActionError) -> ActionOutput in try spawnAndWait(command, exec) })
            }
        }
        return try result.get()
    }

    private static func spawnAndWait(_ argv: [String], _ exec: ActionSettings.Exec) throws(ActionError) -> ActionOutput {
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { throw .failed("pipe: errno \(errno)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        posix_spawn_file_actions_addclose(&actions, pipeFDs[1])
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        let environment = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"]
        var pid: pid_t = 0
        let start = ContinuousClock.now
        let spawned = withCStrings(argv) { cArgv in
            withCStrings(environment) { cEnv in
                posix_spawn(&pid, argv[0], &actions, &attributes, cArgv, cEnv)
            }
        }
        close(pipeFDs[1])
        guard spawned == 0 else {
            close(pipeFDs[0])
            throw .failed("cannot start \(argv[0]): \(String(cString: strerror(spawned)))")
        }
        // Read the output on another thread, keeping the tail.
        let output = Mutex(OutputTail(cap: exec.outputCap))
        let readFD = pipeFDs[0]
        let reader = Thread {
            var buffer = [UInt8](repeating: 0, count: 16 << 10)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
                if n > 0 {
                    output.withLock { $0.append(buffer[0..<n]) }
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            close(readFD)
        }
        reader.start()
        var status: Int32 = 0
        var timedOut = false
        var killedAt: ContinuousClock.Instant?
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { break }
            let elapsed = ContinuousClock.now - start
            if !timedOut, elapsed > exec.timeout {
                timedOut = true
                killedAt = .now
                kill(-pid, SIGTERM)
            } else if let at = killedAt, ContinuousClock.now - at > .seconds(2) {
                kill(-pid, SIGKILL)
                killedAt = nil
            }
            usleep(10_000)
        }
        // Children left in the group would hold the pipe open: end them too.
        kill(-pid, SIGKILL)
        while !reader.isFinished { usleep(5_000) }
        let text = output.withLock { $0.text }
        let exited = (status & 0x7f) == 0
        let code = exited ? Int((status >> 8) & 0xff) : nil
        let signal = exited ? nil : Int(status & 0x7f)
        if timedOut {
            return ActionOutput(
                output: text, exitCode: code, status: .timedOut,
                reason: "\(exec.name) ran past its timeout of \(ConfigValues.format(exec.timeout)) and was killed")
        }
        if let code, code == 0 { return ActionOutput(output: text, exitCode: 0) }
        return ActionOutput(
            output: text, exitCode: code, status: .failed,
            reason: code.map { "\(exec.name) exited with status \($0)" } ?? "\(exec.name) was killed by signal \(signal ?? 0)")
    }

    private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for p in pointers { free(p) } }
        return body(pointers)
    }
}

/// The last `cap` bytes of a stream.
struct OutputTail {
    let cap: Int
    var bytes: [UInt8] = []
    var total = 0

    mutating func append(_ chunk: ArraySlice<UInt8>) {
        total += chunk.count
        bytes.append(contentsOf: chunk)
        if bytes.count > cap { bytes.removeFirst(bytes.count - cap) }
    }

    var text: String {
        let tail = String(decoding: bytes, as: UTF8.self)
        return total > cap ? "[… \(total - cap) earlier bytes not kept]\n" + tail : tail
    }
}
