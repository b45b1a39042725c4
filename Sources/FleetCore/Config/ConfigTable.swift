import TOMLKit

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Typed, path-aware reading of a TOML configuration file. Every getter
/// takes the documented default; a wrong type or value is a ``ConfigError``
/// naming the key, and ``finish()`` refuses keys nobody asked for, so a typo
/// is reported instead of silently ignored.
public final class ConfigTable {
    public let file: String
    let path: String
    let table: TOMLTable
    private var read: Set<String> = []
    private var children: [ConfigTable] = []

    /// Parses TOML text. `file` is used in error messages.
    public init(parsing text: String, file: String) throws(ConfigError) {
        self.file = file
        self.path = ""
        do {
            self.table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(
                file: file, key: nil,
                message: "not valid TOML at line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)")
        } catch {
            throw ConfigError(file: file, key: nil, message: "not valid TOML: \(error)")
        }
    }

    /// Reads and parses a file.
    public convenience init(contentsOf file: String) throws(ConfigError) {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ConfigError(file: file, key: nil, message: "cannot read the file (\(error))")
        }
        try self.init(parsing: text, file: file)
    }

    init(file: String, path: String, table: TOMLTable) {
        self.file = file
        self.path = path
        self.table = table
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// An error about `key` in this table, for checks the getters cannot make.
    public func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, key: keyPath(key), message: message)
    }

    private func value(_ key: String) -> (any TOMLValueConvertible)? {
        read.insert(key)
        return table[key]
    }

    /// A sub-table; an empty one when absent, so its keys take their defaults.
    public func table(_ key: String) throws(ConfigError) -> ConfigTable {
        let child: ConfigTable
        if let v = value(key) {
            guard let t = v.table else { throw error(key, "expected a table ([\(keyPath(key))])") }
            child = ConfigTable(file: file, path: keyPath(key), table: t)
        } else {
            child = ConfigTable(file: file, path: keyPath(key), table: TOMLTable())
        }
        children.append(child)
        return child
    }

    /// Sub-tables of an array of tables (`[[rules]]`).
    public func tables(_ key: String) throws(ConfigError) -> [ConfigTable] {
        guard let v = value(key) else { return [] }
        guard let array = v.array else { throw error(key, "expected an array of tables ([[\(keyPath(key))]])") }
        var out: [ConfigTable] = []
        for (i, element) in array.enumerated() {
            guard let t = element.table else { throw error("\(key)[\(i)]", "expected a table") }
            let child = ConfigTable(file: file, path: "\(keyPath(key))[\(i)]", table: t)
            children.append(child)
            out.append(child)
        }
        return out
    }

    public func has(_ key: String) -> Bool { table[key] != nil }

    /// The keys present in this table, sorted (for free-form tables such as `[facts]`).
    public var keys: [String] { table.keys.sorted() }

    public func string(_ key: String, default def: String) throws(ConfigError) -> String {
        try optionalString(key) ?? def
    }

    public func optionalString(_ key: String) throws(ConfigError) -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.string else { throw error(key, "expected a string") }
        return s
    }

    public func bool(_ key: String, default def: Bool) throws(ConfigError) -> Bool {
        guard let v = value(key) else { return def }
        guard let b = v.bool else { throw error(key, "expected true or false") }
        return b
    }

    public func int(_ key: String, default def: Int, range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let v = value(key) else { return def }
        guard let i = v.int else { throw error(key, "expected an integer") }
        guard range.contains(i) else { throw error(key, "\(i) is out of range \(range.lowerBound)…\(range.upperBound)") }
        return i
    }

    public func double(_ key: String, default def: Double, range: ClosedRange<Double>) throws(ConfigError) -> Double {
        guard let v = value(key) else { return def }
        guard let d = v.double ?? v.int.map(Double.init) else { throw error(key, "expected a number") }
        guard range.contains(d) else { throw error(key, "\(d) is out of range \(range.lowerBound)…\(range.upperBound)") }
        return d
    }

    public func stringArray(_ key: String, default def: [String]) throws(ConfigError) -> [String] {
        guard let v = value(key) else { return def }
        guard let array = v.array else { throw error(key, "expected an array of strings") }
        var out: [String] = []
        for element in array {
            guard let s = element.string else { throw error(key, "expected an array of strings") }
            out.append(s)
        }
        return out
    }

    /// An optional number.
    public func optionalDouble(_ key: String) throws(ConfigError) -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.double ?? v.int.map(Double.init), d.isFinite else { throw error(key, "expected a number") }
        return d
    }

    /// A boolean, number or string, typed as written.
    public func scalar(_ key: String) throws(ConfigError) -> CommandValue? {
        guard let v = value(key) else { return nil }
        guard let scalar = Self.scalar(v) else { throw error(key, "expected a boolean, number or string") }
        return scalar
    }

    /// An array of booleans, numbers or strings.
    public func scalarArray(_ key: String) throws(ConfigError) -> [CommandValue]? {
        guard let v = value(key) else { return nil }
        guard let array = v.array else { throw error(key, "expected an array") }
        var out: [CommandValue] = []
        for element in array {
            guard let scalar = Self.scalar(element) else { throw error(key, "expected booleans, numbers or strings") }
            out.append(scalar)
        }
        return out
    }

    /// An inline table of typed scalars, e.g. `args = { degraded = true, analyze_timeout_ms = 8000 }`.
    public func scalars(_ key: String) throws(ConfigError) -> [String: CommandValue] {
        guard let v = value(key) else { return [:] }
        guard let t = v.table else { throw error(key, "expected a table of values, e.g. { degraded = true }") }
        var out: [String: CommandValue] = [:]
        for name in t.keys {
            guard let element = t[name], let scalar = Self.scalar(element) else {
                throw error("\(key).\(name)", "expected a boolean, number or string")
            }
            out[name] = scalar
        }
        return out
    }

    private static func scalar(_ v: any TOMLValueConvertible) -> CommandValue? {
        if let b = v.bool { return .bool(b) }
        if let i = v.int { return .int(Int64(i)) }
        if let d = v.double { return .double(d) }
        if let s = v.string { return .string(s) }
        return nil
    }

    /// A duration: a string such as `"250ms"`, `"30s"`, `"10m"`, `"24h"`, `"7d"`, or an integer of seconds.
    public func duration(_ key: String, default def: Duration, range: ClosedRange<Duration>? = nil) throws(ConfigError) -> Duration {
        guard let v = value(key) else { return def }
        let d: Duration
        if let i = v.int {
            d = .seconds(i)
        } else if let s = v.string, let parsed = ConfigValues.duration(s) {
            d = parsed
        } else {
            throw error(key, "expected a duration such as \"250ms\", \"30s\", \"10m\", \"24h\" or \"7d\"")
        }
        if let range, !range.contains(d) {
            throw error(key, "\(ConfigValues.format(d)) is out of range \(ConfigValues.format(range.lowerBound))…\(ConfigValues.format(range.upperBound))")
        }
        return d
    }

    /// A byte size: a string such as `"512KiB"`, `"8MiB"`, `"1GiB"`, `"10MB"`, or an integer of bytes.
    public func byteSize(_ key: String, default def: Int, range: ClosedRange<Int>? = nil) throws(ConfigError) -> Int {
        guard let v = value(key) else { return def }
        let n: Int
        if let i = v.int {
            n = i
        } else if let s = v.string, let parsed = ConfigValues.byteSize(s) {
            n = parsed
        } else {
            throw error(key, "expected a size such as \"512KiB\", \"8MiB\" or \"1GiB\"")
        }
        if let range, !range.contains(n) {
            throw error(key, "\(n) bytes is out of range \(range.lowerBound)…\(range.upperBound)")
        }
        return n
    }

    /// Refuses keys (here and in every sub-table read) that no getter asked for.
    public func finish() throws(ConfigError) {
        for key in table.keys.sorted() where !read.contains(key) {
            let known = read.sorted().joined(separator: ", ")
            throw error(key, "unknown key" + (known.isEmpty ? "" : " (known here: \(known))"))
        }
        for child in children { try child.finish() }
    }
}

/// Parsing of the duration and size notations used in Fleet's config files.
public enum ConfigValues {
    public static func duration(_ text: String) -> Duration? {
        let s = text.trimmedSpaces
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        for (unit, seconds) in units where s.hasSuffix(unit) {
            let number = s.dropLast(unit.count).trimmedSpaces
            // "ms" must win over "s" and "m".
            if unit == "s", number.hasSuffix("m") { continue }
            guard let value = Double(number), value.isFinite, value >= 0, value * seconds < 1e12 else { return nil }
            return .milliseconds(Int64((value * seconds * 1000).rounded()))
        }
        return nil
    }

    public static func byteSize(_ text: String) -> Int? {
        let s = text.trimmedSpaces
        let units: [(String, Double)] = [
            ("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("TiB", 1_099_511_627_776),
            ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("B", 1),
        ]
        for (unit, factor) in units where s.hasSuffix(unit) {
            let number = s.dropLast(unit.count).trimmedSpaces
            guard let value = Double(number), value.isFinite, value >= 0, value * factor < 9e18 else { return nil }
            return Int((value * factor).rounded())
        }
        return Int(s)
    }

    /// A compact rendering: `250ms`, `30s`, `10m`, `2h`, `7d`.
    public static func format(_ d: Duration) -> String {
        let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        if ms % 86_400_000 == 0, ms > 0 { return "\(ms / 86_400_000)d" }
        if ms % 3_600_000 == 0, ms > 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0, ms > 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}
