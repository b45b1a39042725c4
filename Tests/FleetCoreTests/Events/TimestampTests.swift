import FleetCore
import FleetTestSupport
import Testing

@Suite("Timestamp")
struct TimestampTests {
    @Test("formats RFC 3339 in UTC with microseconds")
    func format() {
        #expect(Timestamp(microsecondsSinceEpoch: 0).rfc3339 == "1970-01-01T00:00:00.000000Z")
        #expect(Timestamp(microsecondsSinceEpoch: -1).rfc3339 == "1969-12-31T23:59:59.999999Z")
        #expect(Timestamp(microsecondsSinceEpoch: 951_782_400_000_001).rfc3339 == "2000-02-29T00:00:00.000001Z")
    }

    @Test("parses offsets, short fractions and lowercase separators")
    func parse() {
        #expect(Timestamp(rfc3339: "2026-11-23T12:00:00+02:00")?.rfc3339 == "2026-11-23T10:00:00.000000Z")
        #expect(Timestamp(rfc3339: "2026-11-23t10:00:00.5z")?.rfc3339 == "2026-11-23T10:00:00.500000Z")
        #expect(Timestamp(rfc3339: "2026-11-23 10:00:00.123456789Z")?.rfc3339 == "2026-11-23T10:00:00.123456Z")
        for bad in ["", "2026-11-23", "2026-02-30T00:00:00Z", "2026-11-23T25:00:00Z", "2026-11-23T10:00:00", "2026-11-23T10:00:00Zjunk", "0000-01-01T00:00:00Z"] {
            #expect(Timestamp(rfc3339: bad) == nil, "\(bad)")
        }
    }

    @Test("round-trips random instants over years 0001–9999")
    func roundTrip() {
        var gen = EventGenerator(seed: 7)
        for _ in 0..<20_000 {
            let ts = gen.timestamp()
            #expect(Timestamp(rfc3339: ts.rfc3339) == ts)
        }
    }
}
