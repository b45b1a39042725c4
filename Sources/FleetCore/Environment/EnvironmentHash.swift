import Crypto

/// The stable identity of an agent's environment: SHA-256 over the canonical
/// form of its facts, shown as the first 16 hex digits (docs/PROTOCOL.md,
/// "Environment hash"). The same facts give the same hash on every platform.
///
/// Canonical form:
/// 1. Keys are trimmed and lowercased; runs of spaces, `-` and `.` inside
///    a key become `_`. Keys that are then empty are dropped.
/// 2. Volatile facts are dropped: ``volatileKeys`` and any key starting
///    with `volatile_`.
/// 3. Values are trimmed and inner runs of whitespace collapse to one space.
///    Case is kept, except for the keys in ``caseInsensitiveKeys``, whose
///    values are lowercased. Facts whose value is then empty are dropped.
/// 4. If two keys normalise to the same key, the greater value (by UTF-8
///    bytes) wins, so the result does not depend on input order.
/// 5. The text is `fleet-env-v1\n` followed by `key=value\n` for each fact in
///    ascending UTF-8 byte order of keys.
public struct EnvironmentHash: Sendable, Hashable, CustomStringConvertible {
    /// 16 lowercase hex digits.
    public let hex: String

    /// Facts that change while the environment stays the same.
    public static let volatileKeys: Set<String> = [
        "uptime", "uptime_s", "uptime_seconds", "boot_time", "boot_id", "timestamp", "ts", "now",
        "free_memory", "memory_free", "memory_free_bytes", "memory_available_bytes", "free_disk", "disk_free",
        "disk_free_bytes", "load_average", "load_avg", "cpu_percent", "pid", "agent_pid",
    ]

    /// Facts whose values are compared without case.
    public static let caseInsensitiveKeys: Set<String> = [
        "hostname", "os", "os_family", "locale", "timezone", "cpu_arch", "arch",
    ]

    public static let canonicalPrefix = "fleet-env-v1\n"

    public init(facts: [String: String]) {
        let text = Self.canonicalText(facts)
        let digest = SHA256.hash(data: Array(text.utf8))
        var out = ""
        for byte in digest.prefix(8) {
            let s = String(byte, radix: 16)
            out += s.count == 1 ? "0" + s : s
        }
        hex = out
    }

    public var description: String { hex }

    /// The canonical facts: normalised keys and values, volatile ones removed.
    public static func canonicalFacts(_ facts: [String: String]) -> [String: String] {
        var result: [String: String] = [:]
        for (rawKey, rawValue) in facts {
            let key = normaliseKey(rawKey)
            guard !key.isEmpty, !volatileKeys.contains(key), !key.hasPrefix("volatile_") else { continue }
            var value = collapseWhitespace(rawValue)
            if caseInsensitiveKeys.contains(key) { value = value.lowercased() }
            guard !value.isEmpty else { continue }
            if let existing = result[key], !existing.utf8.lexicographicallyPrecedes(value.utf8) { continue }
            result[key] = value
        }
        return result
    }

    /// The exact text that is hashed.
    public static func canonicalText(_ facts: [String: String]) -> String {
        let canonical = canonicalFacts(facts)
        var text = canonicalPrefix
        for key in canonical.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            text += key + "=" + (canonical[key] ?? "") + "\n"
        }
        return text
    }

    static func normaliseKey(_ key: String) -> String {
        var out = ""
        var pendingSeparator = false
        for ch in key.lowercased() {
            if ch.isWhitespace || ch == "-" || ch == "." || ch == "_" || ch == "=" {
                pendingSeparator = !out.isEmpty
            } else {
                if pendingSeparator { out.append("_") }
                pendingSeparator = false
                out.append(ch)
            }
        }
        return out
    }

    static func collapseWhitespace(_ value: String) -> String {
        var out = ""
        var pendingSpace = false
        for ch in value {
            if ch.isWhitespace || ch.isNewline {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" ") }
                pendingSpace = false
                out.append(ch)
            }
        }
        return out
    }
}
