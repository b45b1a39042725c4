/// A wall-clock instant with microsecond resolution, counted from the Unix
/// epoch (1970-01-01T00:00:00Z). Every event carries one.
///
/// JSON carries it as an RFC 3339 UTC string with microseconds
/// (`2026-11-23T11:48:50.123456Z`); the decoder also accepts offsets
/// (`+02:00`), fewer fraction digits, and a plain number of seconds.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Microseconds since the Unix epoch.
    public var microsecondsSinceEpoch: Int64

    public init(microsecondsSinceEpoch: Int64) {
        self.microsecondsSinceEpoch = microsecondsSinceEpoch
    }

    /// Builds a timestamp from seconds since the epoch, rounded to the microsecond.
    /// Returns nil for values that are not finite or out of the supported range.
    public init?(secondsSinceEpoch seconds: Double) {
        guard seconds.isFinite, abs(seconds) < Self.maxSeconds else { return nil }
        self.microsecondsSinceEpoch = Int64((seconds * 1_000_000).rounded())
    }

    /// The current wall-clock time.
    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(microsecondsSinceEpoch: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000)
    }

    public var secondsSinceEpoch: Double { Double(microsecondsSinceEpoch) / 1_000_000 }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.microsecondsSinceEpoch < rhs.microsecondsSinceEpoch
    }

    public var description: String { rfc3339 }

    /// Years 0001 through 9999 are representable in RFC 3339.
    static let minMicros: Int64 = -62_135_596_800 * 1_000_000
    static let maxMicros: Int64 = 253_402_300_799 * 1_000_000 + 999_999
    static let maxSeconds: Double = 253_402_300_800

    /// Whether the instant lies in years 0001 through 9999.
    public var isRepresentable: Bool {
        microsecondsSinceEpoch >= Self.minMicros && microsecondsSinceEpoch <= Self.maxMicros
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - RFC 3339

extension Timestamp {
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, always UTC and six fraction digits.
    public var rfc3339: String {
        let micros = microsecondsSinceEpoch
        let (secs, frac) = micros.floorDivided(by: 1_000_000)
        let (days, secOfDay) = secs.floorDivided(by: 86_400)
        let (y, m, d) = Self.civil(fromDays: days)
        var out = [UInt8]()
        out.reserveCapacity(27)
        func put(_ v: Int64, width: Int) {
            var digits = [UInt8](repeating: UInt8(ascii: "0"), count: width)
            var v = v
            var i = width - 1
            while i >= 0 {
                digits[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                i -= 1
            }
            out.append(contentsOf: digits)
        }
        put(y, width: 4)
        out.append(UInt8(ascii: "-"))
        put(m, width: 2)
        out.append(UInt8(ascii: "-"))
        put(d, width: 2)
        out.append(UInt8(ascii: "T"))
        put(secOfDay / 3600, width: 2)
        out.append(UInt8(ascii: ":"))
        put(secOfDay / 60 % 60, width: 2)
        out.append(UInt8(ascii: ":"))
        put(secOfDay % 60, width: 2)
        out.append(UInt8(ascii: "."))
        put(frac, width: 6)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses an RFC 3339 date-time (`T` or space separator, 0–9 fraction
    /// digits, `Z` or `±HH:MM`). Returns nil when the text is not one.
    public init?(rfc3339 text: String) {
        var text = text
        // Over the bytes in place: three of these per step event on the agent's loopback path.
        guard let ts = text.withUTF8({ Timestamp(rfc3339UTF8: $0) }) else { return nil }
        self = ts
    }

    /// ``init(rfc3339:)`` over the text's UTF-8 bytes.
    init?(rfc3339UTF8 utf8: UnsafeBufferPointer<UInt8>) {
        guard let micros = Self.parseRFC3339(utf8) else { return nil }
        self.init(microsecondsSinceEpoch: micros)
        guard isRepresentable else { return nil }
    }

    private static func parseRFC3339(_ utf8: UnsafeBufferPointer<UInt8>) -> Int64? {
        var i = 0
        func digits(_ n: Int) -> Int64? {
            guard utf8.count - i >= n else { return nil }
            var v: Int64 = 0
            for _ in 0..<n {
                let c = utf8[i]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
                i += 1
            }
            return v
        }
        func expect(_ a: UInt8, _ b: UInt8? = nil, _ c: UInt8? = nil) -> Bool {
            guard i < utf8.count, utf8[i] == a || utf8[i] == b || utf8[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(UInt8(ascii: "-")),
            let month = digits(2), expect(UInt8(ascii: "-")),
            let day = digits(2), expect(UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")),
            let hour = digits(2), expect(UInt8(ascii: ":")),
            let minute = digits(2), expect(UInt8(ascii: ":")),
            let second = digits(2)
        else { return nil }
        guard year >= 1, (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year),
            hour < 24, minute < 60, second < 61
        else { return nil }
        var micros: Int64 = 0
        if expect(UInt8(ascii: ".")) {
            var scale: Int64 = 100_000
            var count = 0
            while i < utf8.count, utf8[i] >= 48, utf8[i] <= 57 {
                count += 1
                guard count <= 9 else { return nil }
                micros += Int64(utf8[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard count > 0 else { return nil }
        }
        var offsetSeconds: Int64 = 0
        if expect(UInt8(ascii: "Z"), UInt8(ascii: "z")) {
        } else if i < utf8.count, utf8[i] == UInt8(ascii: "+") || utf8[i] == UInt8(ascii: "-") {
            let sign: Int64 = utf8[i] == UInt8(ascii: "+") ? 1 : -1
            i += 1
            guard let oh = digits(2), expect(UInt8(ascii: ":")), let om = digits(2), oh < 24, om < 60 else {
                return nil
            }
            offsetSeconds = (oh * 3600 + om * 60) * sign
        } else {
            return nil
        }
        guard i == utf8.count else { return nil }
        let days = Self.days(fromCivil: year, month, day)
        let secs = days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offsetSeconds
        return secs * 1_000_000 + micros
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Howard Hinnant's days-from-civil (proleptic Gregorian).
    static func days(fromCivil y: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y - 1 : y
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z: Int64) -> (Int64, Int64, Int64) {
        let z = z + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}

extension Int64 {
    /// Division rounding toward negative infinity, with a non-negative remainder.
    func floorDivided(by d: Int64) -> (quotient: Int64, remainder: Int64) {
        var q = self / d
        var r = self % d
        if r < 0 {
            q -= 1
            r += d
        }
        return (q, r)
    }
}
