/// An optional that encodes as JSON `null` when absent instead of being left
/// out, so API consumers see "unknown" explicitly (a success rate below the
/// minimum sample is `null`, never missing and never 0).
@propertyWrapper
public struct NullEncoded<Value: Encodable & Sendable & Hashable>: Encodable, Sendable, Hashable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}
