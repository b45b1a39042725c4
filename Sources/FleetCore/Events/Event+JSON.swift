#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The JSON form of events: one flat object per event with snake_case keys,
// `"kind"` naming the kind and `"ts"` the timestamp. Used by the agent's
// loopback NDJSON API, `fleetctl --json` and the Python client. Unknown keys
// are ignored so newer executors can talk to older agents.

/// Decodes and encodes the JSON form of events, with errors that name the field.
public enum EventJSON {
    /// Decodes one event from a JSON object and validates it.
    /// A missing `"ts"` means now.
    public static func decode(_ bytes: some Collection<UInt8>) throws(EventValidationError) -> Event {
        if let step = bytes.withContiguousStorageIfAvailable({ JSONParser.stepFinished($0) }) ?? nil {
            try step.validate()
            return step
        }
        let event: Event
        do {
            event = try Event(from: JSONValueDecoder(value: try JSONParser.parse(bytes), codingPath: []))
        } catch let error as JSONSyntaxError {
            throw .invalid("(event)", "not valid JSON: \(error)")
        } catch let error as EventValidationError {
            throw error
        } catch let error as DecodingError {
            throw EventValidationError(decodingError: error)
        } catch {
            throw .invalid("(event)", "not a JSON object: \(error)")
        }
        try event.validate()
        return event
    }

    /// The compact JSON object of one event, with no trailing newline.
    public static func encode(_ event: Event) -> [UInt8] {
        encodeValue(event)
    }

    /// The compact JSON object of a sequenced event (adds `agent_id`, `epoch`, `seq`).
    public static func encode(_ event: SequencedEvent) -> [UInt8] {
        encodeValue(event)
    }

    static func encodeValue(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding our own value types cannot fail: every Double is checked finite by validation,
        // and a non-finite one is written as null by Timestamp/duration encoders below.
        return (try? Array(encoder.encode(value))) ?? Array("{}".utf8)
    }
}

extension EventValidationError {
    init(decodingError: DecodingError) {
        func path(_ keys: [any CodingKey]) -> String {
            var out = ""
            for key in keys {
                if let index = key.intValue {
                    out += "[\(index)]"
                } else {
                    out += out.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return out.isEmpty ? "(event)" : out
        }
        switch decodingError {
        case .keyNotFound(let key, let context):
            self = .missing(path(context.codingPath + [key]))
        case .typeMismatch(let type, let context):
            self = .invalid(path(context.codingPath), "expected \(Self.jsonTypeName(type))")
        case .valueNotFound(let type, let context):
            self = .invalid(path(context.codingPath), "null where \(Self.jsonTypeName(type)) is required")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                self = .invalid("(event)", "not valid JSON")
            } else {
                self = .invalid(path(context.codingPath), context.debugDescription)
            }
        @unknown default:
            self = .invalid("(event)", "\(decodingError)")
        }
    }

    static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is UInt64.Type, is Int64.Type: "an integer"
        case is Double.Type: "a number"
        default:
            "\(type)".hasPrefix("Dictionary<") ? "an object" : "\(type)".hasPrefix("Array<") ? "an array" : "a different kind of value"
        }
    }
}

// MARK: - Enums with helpful decoding errors

/// A string enum whose decoding error lists the accepted values.
public protocol JSONStringEnum: RawRepresentable<String>, CaseIterable, Codable {}

extension JSONStringEnum {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        guard let value = Self(rawValue: raw) else {
            let accepted = Self.allCases.map(\.rawValue).joined(separator: ", ")
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "unknown value \"\(raw.prefix(64))\"; expected one of \(accepted)")
        }
        self = value
    }
}

extension ExecutionStatus: JSONStringEnum {}
extension Severity: JSONStringEnum {}
extension MetricKind: JSONStringEnum {}
extension CommandStatus: JSONStringEnum {}
extension EventKind: JSONStringEnum {}

// MARK: - Timestamp

extension Timestamp: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            guard let ts = Timestamp(rfc3339: text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "not an RFC 3339 date-time: \"\(text.prefix(64))\"")
            }
            self = ts
        } else if let seconds = try? container.decode(Double.self) {
            guard let ts = Timestamp(secondsSinceEpoch: seconds), ts.isRepresentable else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "seconds since epoch out of range")
            }
            self = ts
        } else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected an RFC 3339 string or seconds since the epoch")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rfc3339)
    }
}

extension WALEpoch: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let epoch = WALEpoch(hex: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected 16 hex digits")
        }
        self = epoch
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

// MARK: - Event

private enum EnvelopeKeys: String, CodingKey {
    case kind, ts
    case agentID = "agent_id"
    case epoch
    case seq
}

extension Event: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: EnvelopeKeys.self)
        let kind = try container.decode(EventKind.self, forKey: .kind)
        timestamp = try container.decodeIfPresent(Timestamp.self, forKey: .ts) ?? .now()
        payload =
            switch kind {
            case .executionStarted: .executionStarted(try ExecutionStarted(from: decoder))
            case .executionFinished: .executionFinished(try ExecutionFinished(from: decoder))
            case .stepFinished: .stepFinished(try StepFinished(from: decoder, eventTime: timestamp))
            case .recoveryAttempted: .recoveryAttempted(try RecoveryAttempted(from: decoder))
            case .resolution: .resolution(try Resolution(from: decoder))
            case .error: .error(try ErrorEvent(from: decoder))
            case .resourceSample: .resourceSample(try ResourceSample(from: decoder))
            case .environment: .environment(try EnvironmentFacts(from: decoder))
            case .metric: .metric(try MetricSample(from: decoder))
            case .commandResult: .commandResult(try CommandResult(from: decoder))
            case .agentStatus: .agentStatus(try AgentStatus(from: decoder))
            }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: EnvelopeKeys.self)
        try container.encode(kind, forKey: .kind)
        try container.encode(timestamp, forKey: .ts)
        switch payload {
        case .executionStarted(let p): try p.encode(to: encoder)
        case .executionFinished(let p): try p.encode(to: encoder)
        case .stepFinished(let p): try p.encode(to: encoder)
        case .recoveryAttempted(let p): try p.encode(to: encoder)
        case .resolution(let p): try p.encode(to: encoder)
        case .error(let p): try p.encode(to: encoder)
        case .resourceSample(let p): try p.encode(to: encoder)
        case .environment(let p): try p.encode(to: encoder)
        case .metric(let p): try p.encode(to: encoder)
        case .commandResult(let p): try p.encode(to: encoder)
        case .agentStatus(let p): try p.encode(to: encoder)
        }
    }
}

extension SequencedEvent: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: EnvelopeKeys.self)
        agentID = try container.decode(String.self, forKey: .agentID)
        epoch = try container.decode(WALEpoch.self, forKey: .epoch)
        sequence = try container.decode(UInt64.self, forKey: .seq)
        event = try Event(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: EnvelopeKeys.self)
        try container.encode(agentID, forKey: .agentID)
        try container.encode(epoch, forKey: .epoch)
        try container.encode(sequence, forKey: .seq)
        try event.encode(to: encoder)
    }
}

