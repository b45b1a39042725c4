import FleetCore

/// `[actions]` in agent.toml: the only actions this agent runs when the
/// collector asks. Anything not named in `allow` is refused, and the refusal
/// is reported. Built-ins: `set_flags`, `clean_cache`, `flush`,
/// `reload_config`, `run_diagnostics`; and the `[[actions.exec]]` programs.
public struct ActionSettings: Sendable, Hashable {
    /// `actions.allow`: action names this agent runs (built-ins and exec names).
    public var allow: Set<String> = []
    public var setFlags = SetFlags()
    public var cleanCache = CleanCache()
    public var exec: [String: Exec] = [:]

    public init() {}

    public static let builtIns: Set<String> = ["set_flags", "clean_cache", "flush", "reload_config", "run_diagnostics"]

    /// The type of a flag or exec parameter.
    public enum ValueType: String, Sendable, Hashable, CaseIterable {
        case bool, int, number, string

        /// The value if it has this type (an integer is also a number).
        func accepts(_ value: CommandValue) -> Bool {
            switch (self, value) {
            case (.bool, .bool), (.int, .int), (.number, .int), (.number, .double), (.string, .string): true
            default: false
            }
        }
    }

    /// `[actions.set_flags]`: the executor's flags file, written atomically.
    public struct SetFlags: Sendable, Hashable {
        /// `file`; empty: DATA_DIR/executor-flags.json.
        public var file = ""
        /// `keys`: the flags the collector may set, with their types.
        public var keys: [String: ValueType] = [
            "degraded": .bool, "enable_ocr": .bool, "enable_ui_detection": .bool, "analyze_timeout_ms": .int,
        ]
    }

    /// `[actions.clean_cache]`
    public struct CleanCache: Sendable, Hashable {
        /// `dir`; empty: `sampler.cache_dir`.
        public var directory = ""
        /// `keep_newest`: entries (files or folders at the top level) always kept, newest by modification time.
        public var keepNewest = 20
        /// `older_than`: only entries older than this are deleted.
        public var olderThan: Duration = .seconds(86_400)
    }

    /// `[[actions.exec]]`: a fixed program, never through a shell.
    public struct Exec: Sendable, Hashable {
        public var name: String
        /// `argv`: absolute program path first. `{param}` inside an element is replaced by that parameter's value.
        public var argv: [String]
        /// `params`: `{ name = { type = "int", min = 1, max = 9 } }` or `{ type = "string", allowed = ["a", "b"] }`.
        public var params: [String: Param]
        public var timeout: Duration = .seconds(60)
        /// `output_cap`: bytes of output kept (the tail).
        public var outputCap = 64 << 10
        /// `user`: run as this user (needs the agent to run as root; uses setpriv). Empty: the agent's user.
        public var user = ""
    }

    public struct Param: Sendable, Hashable {
        public var type: ValueType
        public var allowed: [CommandValue]?
        public var min: Double?
        public var max: Double?
        public var defaultValue: CommandValue?
    }
}

extension ActionSettings {
    init(table a: ConfigTable, dataDirectory: String, cacheDirectory: String?) throws(ConfigError) {
        self.init()
        let f = try a.table("set_flags")
        setFlags.file = try f.string("file", default: "")
        if setFlags.file.isEmpty { setFlags.file = dataDirectory + "/executor-flags.json" }
        if f.has("keys") {
            var keys: [String: ValueType] = [:]
            for (key, value) in try f.scalars("keys") {
                guard case .string(let name) = value, let type = ValueType(rawValue: name) else {
                    throw f.error("keys.\(key)", "expected one of \"bool\", \"int\", \"number\", \"string\"")
                }
                keys[key] = type
            }
            setFlags.keys = keys
        }

        let c = try a.table("clean_cache")
        cleanCache.directory = try c.string("dir", default: cacheDirectory ?? "")
        cleanCache.keepNewest = try c.int("keep_newest", default: cleanCache.keepNewest, range: 0...1_000_000)
        cleanCache.olderThan = try c.duration("older_than", default: cleanCache.olderThan, range: .zero...(.seconds(3650 * 86_400)))

        for t in try a.tables("exec") {
            let name = try t.string("name", default: "")
            guard !name.isEmpty, name.utf8.count <= 64, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
                throw t.error("name", "required: 1–64 of a–z, 0–9, '_' or '-'")
            }
            guard !Self.builtIns.contains(name), exec[name] == nil else { throw t.error("name", "\"\(name)\" is already an action") }
            let argv = try t.stringArray("argv", default: [])
            guard let program = argv.first, program.hasPrefix("/") else {
                throw t.error("argv", "required: the program's absolute path first, then its arguments (no shell is used)")
            }
            var params: [String: Param] = [:]
            let p = try t.table("params")
            for key in p.keys {
                let spec = try p.table(key)
                let typeName = try spec.string("type", default: "")
                guard let type = ValueType(rawValue: typeName) else {
                    throw spec.error("type", "required: one of \"bool\", \"int\", \"number\", \"string\"")
                }
                var param = Param(type: type)
                param.allowed = try spec.scalarArray("allowed")
                param.min = try spec.optionalDouble("min")
                param.max = try spec.optionalDouble("max")
                param.defaultValue = try spec.scalar("default")
                if let def = param.defaultValue, !type.accepts(def) {
                    throw spec.error("default", "expected a \(type.rawValue)")
                }
                params[key] = param
            }
            for element in argv {
                for placeholder in Self.placeholders(in: element) where params[placeholder] == nil {
                    throw t.error("argv", "{\(placeholder)} is not declared in params")
                }
            }
            var exec = Exec(name: name, argv: argv, params: params)
            exec.timeout = try t.duration("timeout", default: exec.timeout, range: .milliseconds(100)...(.seconds(86_400)))
            exec.outputCap = try t.byteSize("output_cap", default: exec.outputCap, range: 256...(EventLimits.maxOutputBytes))
            exec.user = try t.string("user", default: "")
            self.exec[name] = exec
        }

        let allow = try a.stringArray("allow", default: [])
        for name in allow where !Self.builtIns.contains(name) && exec[name] == nil {
            throw a.error("allow", "\"\(name)\" is neither a built-in action (\(Self.builtIns.sorted().joined(separator: ", "))) nor an [[actions.exec]] name")
        }
        self.allow = Set(allow)
    }

    /// The `{name}` placeholders in an argv element.
    static func placeholders(in element: String) -> [String] {
        var names: [String] = []
        var rest = Substring(element)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            names.append(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return names
    }
}
