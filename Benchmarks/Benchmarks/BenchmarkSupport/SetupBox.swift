import Synchronization

/// A value made in a benchmark's setup that its teardown needs too (the
/// teardown hook gets no setup result).
public final class SetupBox<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)

    public init() {}

    /// Keeps `newValue` and returns it.
    public func keep(_ newValue: Value) -> Value {
        value.withLock { $0 = newValue }
        return newValue
    }

    /// The kept value, forgotten.
    public func take() -> Value? {
        value.withLock { stored in
            defer { stored = nil }
            return stored
        }
    }
}
