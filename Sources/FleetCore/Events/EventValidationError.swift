/// An event that breaks the contract: names the offending field (JSON
/// name, with a path for nested values such as `gpus[1].name` or
/// `context["k"]`) and says what is wrong with it.
public struct EventValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case missing
        case empty
        case tooLong(limit: Int)
        case tooMany(limit: Int)
        case outOfRange(String)
        case notFinite
        case invalidValue(String)
    }

    let code: Code
    /// The JSON name of the field, with its path inside the event.
    public let field: String

    init(_ code: Code, field: String) {
        self.code = code
        self.field = field
    }

    static func missing(_ field: String) -> Self { .init(.missing, field: field) }
    static func invalid(_ field: String, _ why: String) -> Self { .init(.invalidValue(why), field: field) }

    public var description: String {
        switch code {
        case .missing: "\(field): required field is missing"
        case .empty: "\(field): must not be empty"
        case .tooLong(let limit): "\(field): longer than \(limit) bytes"
        case .tooMany(let limit): "\(field): more than \(limit) entries"
        case .outOfRange(let range): "\(field): out of range (\(range))"
        case .notFinite: "\(field): must be a finite number"
        case .invalidValue(let why): "\(field): \(why)"
        }
    }
}

/// Bounds every event must respect. They keep one event small enough that a
/// bad executor cannot bloat the WAL, the wire or the store.
public enum EventLimits {
    /// Ids: execution, workflow, node, command, agent, hashes.
    public static let maxIDBytes = 256
    /// Short names: action type, strategy, component, error type, metric name.
    public static let maxNameBytes = 128
    /// Free text: error messages, reasons.
    public static let maxMessageBytes = 4096
    /// A command's output tail or diagnostics report.
    public static let maxOutputBytes = 65_536
    /// Keys of facts, labels and context maps.
    public static let maxKeyBytes = 128
    /// Values of facts, labels and context maps.
    public static let maxValueBytes = 1024
    public static let maxFacts = 256
    public static let maxLabels = 64
    public static let maxGPUs = 16
    /// Durations: 30 days in milliseconds.
    public static let maxDurationMs: Double = 2_592_000_000
    /// Counts such as steps and candidates.
    public static let maxCount = 10_000_000
}
