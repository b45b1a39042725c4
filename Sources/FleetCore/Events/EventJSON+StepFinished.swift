// The hot path of `EventJSON.decode`: a `step_finished` line decoded in one
// pass over its bytes, with no tree of values and no `Decoder` layer. At
// 1,000 events/s on the agent's loopback API, the tree and the `Codable`
// layer over it were a fifth of the agent's CPU. Steps are nearly all of an
// executor's events; the other kinds take the general path.
//
// It only ever accepts: another kind, any field of an unexpected type, a null
// where a value is required, or anything not JSON gives nil, and the general
// path (`JSONParser` and the `Codable` initialisers) then decodes the line or
// refuses it with its usual message. It shares the parser's primitives
// (strings, number grammar, nesting limit, values of unknown keys), so it is
// exactly as strict. `EventJSONDecoderTests` holds both paths to the same
// events.

extension JSONParser {
    /// The `step_finished` event of a line, or nil for the general path to decide.
    static func stepFinished(_ bytes: UnsafeBufferPointer<UInt8>) -> Event? {
        var parser = JSONParser(bytes: bytes)
        return parser.stepFinished()
    }

    private mutating func stepFinished() -> Event? {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{"), (try? enter()) != nil else { return nil }
        var step = StepFields()
        while true {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            guard let key = plainString() else { return nil }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            skipWhitespace()
            guard readField(key, into: &step) else { return nil }
            skipWhitespace()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: "}") {
                index += 1
                break
            }
            guard bytes[index] == UInt8(ascii: ",") else { return nil }
            index += 1
            skipWhitespace()
        }
        skipWhitespace()
        guard index == bytes.count else { return nil }
        return step.event()
    }

    /// The fields as read so far; members in document order, so a repeated key's last value is
    /// the one kept, and a null clears an optional field, as on the `Codable` path.
    private struct StepFields {
        var isStep = false
        var ts: Timestamp?
        var executionID: String?
        var workflowID: String?
        var nodeID: String?
        var stepNumber: Int?
        var actionType: String?
        var success: Bool?
        var error: String?
        var ocrMs: Double?
        var uiMs: Double?
        var analyzeMs: Double?
        var totalMs: Double?
        var cacheHit: Bool?
        var degraded: Bool?
        var finishedAt: Timestamp?
        var startedAt: Timestamp?

        /// As `StepFinished.init(from:eventTime:)`: `finished_at` defaults to the event's time,
        /// `started_at` to `finished_at - total_ms`, the booleans to false.
        func event() -> Event? {
            guard isStep, let executionID, let workflowID, let nodeID, let stepNumber, let actionType, let success, let totalMs else {
                return nil
            }
            let timestamp = ts ?? .now()
            let finished = finishedAt ?? timestamp
            let started = startedAt ?? StepFinished.defaultStart(finishedAt: finished, totalMs: totalMs)
            let step = StepFinished(
                executionID: executionID, workflowID: workflowID, nodeID: nodeID, stepNumber: stepNumber, actionType: actionType,
                startedAt: started, finishedAt: finished, success: success, error: error, ocrMs: ocrMs, uiMs: uiMs,
                analyzeMs: analyzeMs, totalMs: totalMs, cacheHit: cacheHit ?? false, degraded: degraded ?? false)
            return Event(timestamp: timestamp, .stepFinished(step))
        }
    }

    /// Reads the value of `key` into its field; false when the general path must decide.
    private mutating func readField(_ key: UnsafeBufferPointer<UInt8>, into step: inout StepFields) -> Bool {
        func `is`(_ name: StaticString) -> Bool { Self.equal(key, name) }
        if `is`("kind") {
            // Another kind goes to the general path at once.
            guard let kind = plainString() else { return false }
            step.isStep = Self.equal(kind, "step_finished")
            return step.isStep
        }
        if `is`("execution_id") { return required(&step.executionID) { $0.stringValue() } }
        if `is`("workflow_id") { return required(&step.workflowID) { $0.stringValue() } }
        if `is`("node_id") { return required(&step.nodeID) { $0.stringValue() } }
        if `is`("action_type") { return required(&step.actionType) { $0.stringValue() } }
        if `is`("step_number") { return required(&step.stepNumber) { $0.intValue() } }
        if `is`("success") { return required(&step.success) { $0.boolValue() } }
        if `is`("total_ms") { return required(&step.totalMs) { $0.doubleValue() } }
        if `is`("ts") { return optional(&step.ts) { $0.timestampValue() } }
        if `is`("ocr_ms") { return optional(&step.ocrMs) { $0.doubleValue() } }
        if `is`("ui_ms") { return optional(&step.uiMs) { $0.doubleValue() } }
        if `is`("analyze_ms") { return optional(&step.analyzeMs) { $0.doubleValue() } }
        if `is`("error") { return optional(&step.error) { $0.stringValue() } }
        if `is`("cache_hit") { return optional(&step.cacheHit) { $0.boolValue() } }
        if `is`("degraded") { return optional(&step.degraded) { $0.boolValue() } }
        if `is`("finished_at") { return optional(&step.finishedAt) { $0.timestampValue() } }
        if `is`("started_at") { return optional(&step.startedAt) { $0.timestampValue() } }
        // A key no field reads: its value must still be JSON.
        return (try? value()) != nil
    }

    private mutating func required<T>(_ field: inout T?, _ read: (inout JSONParser) -> T?) -> Bool {
        field = read(&self)
        return field != nil
    }

    private mutating func optional<T>(_ field: inout T?, _ read: (inout JSONParser) -> T?) -> Bool {
        if index < bytes.count, bytes[index] == UInt8(ascii: "n") {
            field = nil
            return (try? literal("null", .null)) != nil
        }
        field = read(&self)
        return field != nil
    }

    private static func equal(_ text: UnsafeBufferPointer<UInt8>, _ name: StaticString) -> Bool {
        guard text.count == name.utf8CodeUnitCount else { return false }
        for i in 0..<text.count where text[i] != name.utf8Start[i] { return false }
        return true
    }

    /// The bytes of a string with no escape, no control character and no byte ≥ 0x80, in place;
    /// nil for any other string (the general path reads it).
    private mutating func plainString() -> UnsafeBufferPointer<UInt8>? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        let start = index + 1
        var end = start
        while end < bytes.count {
            let byte = bytes[end]
            if byte == UInt8(ascii: "\"") {
                index = end + 1
                return UnsafeBufferPointer(rebasing: bytes[start..<end])
            }
            guard byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\\") else { return nil }
            end += 1
        }
        return nil
    }

    private mutating func stringValue() -> String? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        return try? string()
    }

    private mutating func boolValue() -> Bool? {
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "t"): return (try? literal("true", .bool(true))) != nil ? true : nil
        case UInt8(ascii: "f"): return (try? literal("false", .bool(false))) != nil ? false : nil
        default: return nil
        }
    }

    /// The literal of the number at `index`, checked against the JSON grammar.
    private mutating func numberLiteral() -> UnsafeBufferPointer<UInt8>? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "-") || (bytes[index] >= 0x30 && bytes[index] <= 0x39),
            let range = try? numberRange()
        else { return nil }
        return UnsafeBufferPointer(rebasing: bytes[range])
    }

    /// As `JSONValueDecoder.double`: finite, correctly rounded.
    private mutating func doubleValue() -> Double? {
        guard let literal = numberLiteral() else { return nil }
        if let exact = Self.fastDouble(literal) { return exact }
        return try? JSONValueDecoder.double(.number(String(decoding: literal, as: UTF8.self)), [])
    }

    /// As `JSONValueDecoder.integer`: digits that fit, or a number with an integral value.
    private mutating func intValue() -> Int? {
        guard let literal = numberLiteral() else { return nil }
        var negative = false
        var digits = literal[...]
        if digits.first == UInt8(ascii: "-") {
            negative = true
            digits = digits.dropFirst()
        }
        if digits.count <= 18, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            let magnitude = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            return negative ? -magnitude : magnitude
        }
        return try? JSONValueDecoder.integer(.number(String(decoding: literal, as: UTF8.self)), [])
    }

    /// As `Timestamp`'s `Decodable` initialiser: an RFC 3339 string, or finite seconds since the epoch.
    private mutating func timestampValue() -> Timestamp? {
        guard index < bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: "\"") {
            if let plain = plainString() { return Timestamp(rfc3339UTF8: plain) }
            return stringValue().flatMap { Timestamp(rfc3339: $0) }
        }
        guard let seconds = doubleValue(), let ts = Timestamp(secondsSinceEpoch: seconds), ts.isRepresentable else { return nil }
        return ts
    }

    /// Powers of ten a `Double` holds exactly.
    private static let exactPowersOfTen: [Double] = (0...22).map { exponent in
        (0..<exponent).reduce(1.0) { value, _ in value * 10 }
    }

    /// A decimal literal without exponent whose digits fit 2^53 and has at most 22 fraction digits:
    /// its digits as an integer divided by a power of ten, both exact, so the one rounding of the
    /// division gives the correctly rounded value, as `Double(String)` does (Clinger's fast path).
    /// Nil for any other literal.
    static func fastDouble(_ literal: UnsafeBufferPointer<UInt8>) -> Double? {
        var i = 0
        var negative = false
        if i < literal.count, literal[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var fractionDigits = 0
        var seenPoint = false
        while i < literal.count {
            let byte = literal[i]
            if byte == UInt8(ascii: ".") {
                seenPoint = true
            } else if byte >= 0x30, byte <= 0x39 {
                mantissa = mantissa &* 10 &+ UInt64(byte - 0x30)
                digits += 1
                if seenPoint { fractionDigits += 1 }
                // 15 digits stay below 2^53.
                guard digits <= 15 else { return nil }
            } else {
                return nil  // an exponent
            }
            i += 1
        }
        guard fractionDigits <= 22 else { return nil }
        let value = Double(mantissa) / exactPowersOfTen[fractionDigits]
        return negative ? -value : value
    }
}
