/// Rules for agent ids: 1–64 characters from `A–Z a–z 0–9 . _ -`, not
/// starting with `.` or `-`. The id names the agent in its certificate, its
/// batches and the store, and is safe as a file name.
public enum AgentID {
    public static let maxLength = 64

    /// Nil when `id` is valid, else why it is not.
    public static func problem(with id: String) -> String? {
        let utf8 = id.utf8
        guard !utf8.isEmpty else { return "must not be empty" }
        guard utf8.count <= maxLength else { return "longer than \(maxLength) characters" }
        if let first = utf8.first, first == UInt8(ascii: ".") || first == UInt8(ascii: "-") {
            return "must not start with '.' or '-'"
        }
        for c in utf8 {
            let ok =
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
            if !ok { return "only letters, digits, '.', '_' and '-' are allowed" }
        }
        return nil
    }

    public static func isValid(_ id: String) -> Bool { problem(with: id) == nil }
}
