import GRDB
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

/// How a window is read: whole days, hours and five-minute slots from the
/// summary buckets, the ragged remainder (under five minutes at each end)
/// from the raw rows. Groups of one agent have no five-minute buckets
/// (`spans`), so their remainder is up to an hour at each end. A day is read from its day buckets only when they are
/// built and current (`builtDays`); otherwise from its hours. An edge older
/// than the raw retention is widened to its whole hour, since only hourly
/// and daily buckets remain there.
struct WindowPlan: Equatable {
    struct Buckets: Equatable {
        var span: Int64
        /// Bucket starts in `from..<to`.
        var from: Int64
        var to: Int64
    }

    var buckets: [Buckets] = []
    /// Raw time ranges `from..<to`.
    var raw: [Range<Int64>] = []

    /// `spans`: the bucket spans the dimension has besides days (``SummaryBuckets/spans``).
    init(window: SummaryWindow, rawHorizon: Int64? = nil, builtDays: Set<Int64> = [], spans: [Int64] = SummaryBuckets.spans) {
        let hour = SummaryBuckets.hour
        var from = window.from.microsecondsSinceEpoch
        var to = window.to.microsecondsSinceEpoch
        guard from < to else { return }
        if let rawHorizon {
            if from < rawHorizon { from = BucketAccumulator.floor(from, hour) }
            if to < rawHorizon { to = BucketAccumulator.floor(to + hour - 1, hour) }
        }
        cover(from..<to, spans: ArraySlice([SummaryBuckets.day] + spans.sorted(by: >)), builtDays: builtDays)
    }

    /// The whole window from raw rows (for filters no bucket holds).
    init(rawOnly window: SummaryWindow) {
        let from = window.from.microsecondsSinceEpoch
        raw = [from..<max(from, window.to.microsecondsSinceEpoch)]
    }

    /// The plan for reading now: which days have current day buckets is read from `db`.
    init(window: SummaryWindow, rawHorizon: Int64?, spans: [Int64], db: Database) throws {
        let days = try SummaryBuckets.builtDays(db, from: window.from.microsecondsSinceEpoch, to: window.to.microsecondsSinceEpoch)
        self.init(window: window, rawHorizon: rawHorizon, builtDays: days, spans: spans)
    }

    /// Covers `range` with the largest spans first; what no span covers is read raw.
    private mutating func cover(_ range: Range<Int64>, spans: ArraySlice<Int64>, builtDays: Set<Int64>) {
        guard !range.isEmpty else { return }
        guard let span = spans.first else {
            raw.append(range)
            return
        }
        let smaller = spans.dropFirst()
        let first = BucketAccumulator.floor(range.lowerBound + span - 1, span)
        let last = BucketAccumulator.floor(range.upperBound, span)
        guard first < last else {
            cover(range, spans: smaller, builtDays: builtDays)
            return
        }
        cover(range.lowerBound..<first, spans: smaller, builtDays: builtDays)
        if span == SummaryBuckets.day {
            var start = first
            while start < last {
                if builtDays.contains(start) {
                    append(Buckets(span: span, from: start, to: start + span))
                } else {
                    cover(start..<start + span, spans: smaller, builtDays: builtDays)
                }
                start += span
            }
        } else {
            append(Buckets(span: span, from: first, to: last))
        }
        cover(last..<range.upperBound, spans: smaller, builtDays: builtDays)
    }

    /// Appends, joining a range of the same span that ends where this one starts.
    private mutating func append(_ b: Buckets) {
        if let i = buckets.lastIndex(where: { $0.span == b.span }), buckets[i].to == b.from {
            buckets[i].to = b.to
        } else {
            buckets.append(b)
        }
    }
}
