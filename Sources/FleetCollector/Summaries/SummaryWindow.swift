import FleetCore

/// The time range a summary covers: the last hour, 24 hours, 7 days, or any
/// explicit range. API: `?window=1h|24h|7d` or `?from=RFC3339&to=RFC3339`.
public struct SummaryWindow: Sendable, Hashable, Encodable {
    public var from: Timestamp
    public var to: Timestamp
    /// `1h`, `24h`, `7d` or `range`.
    public var name: String

    public init(from: Timestamp, to: Timestamp, name: String = "range") {
        self.from = from
        self.to = to
        self.name = name
    }

    public static func last(_ name: String, now: Timestamp) -> SummaryWindow? {
        let hours: Int64
        switch name {
        case "1h": hours = 1
        case "24h", "1d": hours = 24
        case "7d": hours = 168
        default: return nil
        }
        return SummaryWindow(
            from: Timestamp(microsecondsSinceEpoch: now.microsecondsSinceEpoch - hours * 3_600_000_000), to: now,
            name: name == "1d" ? "24h" : name)
    }

    /// From query parameters; nil parameters mean the last hour.
    public static func parse(window: String?, from: String?, to: String?, now: Timestamp) -> Result<SummaryWindow, SummaryError> {
        if from != nil || to != nil {
            guard let fromText = from, let start = Timestamp(rfc3339: fromText) else {
                return .failure(SummaryError("from: expected an RFC 3339 time such as 2026-11-23T00:00:00Z"))
            }
            let end: Timestamp
            if let toText = to {
                guard let parsed = Timestamp(rfc3339: toText) else {
                    return .failure(SummaryError("to: expected an RFC 3339 time such as 2026-11-23T00:00:00Z"))
                }
                end = parsed
            } else {
                end = now
            }
            guard start < end else { return .failure(SummaryError("from must be earlier than to")) }
            return .success(SummaryWindow(from: start, to: end))
        }
        guard let window = last(window ?? "1h", now: now) else {
            return .failure(SummaryError("window: expected 1h, 24h or 7d (or from= and to=)"))
        }
        return .success(window)
    }

    enum CodingKeys: String, CodingKey { case from, to, name }
}

/// A summary request that cannot be answered as asked (HTTP 400).
public struct SummaryError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
