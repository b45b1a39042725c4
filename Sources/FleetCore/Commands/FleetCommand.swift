#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A typed argument of a command: what `--arg key=value`, a rule's
/// `action_args` and the agent's allow-list speak. JSON: a bare boolean,
/// integer, number or string.
public enum CommandValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? container.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? container.decode(Double.self) {
            self = .double(d)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a boolean, number or string")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .bool(let b): try container.encode(b)
        case .int(let i): try container.encode(i)
        case .double(let d): try container.encode(d)
        case .string(let s): try container.encode(s)
        }
    }

    /// From operator text (`--arg degraded=true`): true/false, an integer, a number, else a string.
    public init(parsing text: String) {
        if text == "true" {
            self = .bool(true)
        } else if text == "false" {
            self = .bool(false)
        } else if let i = Int64(text) {
            self = .int(i)
        } else if let d = Double(text), d.isFinite {
            self = .double(d)
        } else {
            self = .string(text)
        }
    }

    public var description: String {
        switch self {
        case .bool(let b): "\(b)"
        case .int(let i): "\(i)"
        case .double(let d): "\(d)"
        case .string(let s): s
        }
    }

    /// `bool`, `int`, `number` or `string`, as the agent's allow-list names types.
    public var typeName: String {
        switch self {
        case .bool: "bool"
        case .int: "int"
        case .double: "number"
        case .string: "string"
        }
    }
}

/// A command for one agent, as the collector delivers it (in the
/// `/v1/batches` acknowledgement and by `GET /v1/commands?wait=`). The agent
/// runs it at most once, only if its own configuration allows the action
/// and its arguments, and reports the outcome as a `command_result` event.
public struct FleetCommand: Sendable, Hashable, Codable {
    /// Unique, chosen by the collector.
    public var id: String
    public var action: String
    public var args: [String: CommandValue]
    /// Not run after this time (the agent reports it `expired`).
    public var deadline: Timestamp

    public init(id: String, action: String, args: [String: CommandValue] = [:], deadline: Timestamp) {
        self.id = id
        self.action = action
        self.args = args
        self.deadline = deadline
    }

    enum CodingKeys: String, CodingKey {
        case id, action, args, deadline
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        action = try c.decode(String.self, forKey: .action)
        args = try c.decodeIfPresent([String: CommandValue].self, forKey: .args) ?? [:]
        let text = try c.decode(String.self, forKey: .deadline)
        guard let deadline = Timestamp(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(forKey: .deadline, in: c, debugDescription: "expected an RFC 3339 time")
        }
        self.deadline = deadline
        guard !id.isEmpty, id.utf8.count <= 128 else {
            throw DecodingError.dataCorruptedError(forKey: .id, in: c, debugDescription: "expected 1–128 bytes")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(action, forKey: .action)
        try c.encode(args, forKey: .args)
        try c.encode(deadline.rfc3339, forKey: .deadline)
    }
}

/// The commands in a `/v1/batches` acknowledgement or a `GET /v1/commands` reply.
public struct CommandDelivery: Sendable, Hashable, Codable {
    public var commands: [FleetCommand]

    public init(commands: [FleetCommand]) {
        self.commands = commands
    }

    enum CodingKeys: String, CodingKey { case commands }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        commands = try c.decodeIfPresent([FleetCommand].self, forKey: .commands) ?? []
    }
}

/// What an agent reads from the collector's answer to a batch or a command long-poll
/// (docs/API.md): `acked_through` and the `commands`.
public struct CollectorReply: Sendable, Hashable {
    /// Nil when the answer has none, or is not a JSON object.
    public var ackedThrough: UInt64?
    /// Empty when there are none, or when any is malformed (the collector sends them again).
    public var commands: [FleetCommand]

    /// Reads the answer with FleetCore's own JSON parser, and the commands, when there are
    /// any, with JSONDecoder. (Foundation's JSONSerialization and JSONDecoder on
    /// every acknowledgement, nearly always `"commands":[]`, were 3 % of the agent's CPU at
    /// 1,000 events/s.)
    public init(ackedThrough: UInt64? = nil, commands: [FleetCommand]) {
        self.ackedThrough = ackedThrough
        self.commands = commands
    }

    public init(_ body: some Collection<UInt8>) {
        ackedThrough = nil
        commands = []
        guard case .object(let members)? = try? JSONParser.parse(body) else { return }
        if let through = members.last(where: { $0.key == "acked_through" })?.value {
            ackedThrough = try? JSONValueDecoder.integer(through, [])
        }
        if case .array(let list)? = members.last(where: { $0.key == "commands" })?.value, !list.isEmpty {
            commands = (try? JSONDecoder().decode(CommandDelivery.self, from: Data(body)))?.commands ?? []
        }
    }
}
