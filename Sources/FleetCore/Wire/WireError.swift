/// A batch frame or record that cannot be decoded (or encoded). Every
/// decoding failure is one of these; the decoder never traps on input.
public struct WireError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case truncated(field: String)
        case badMagic
        case unsupportedVersion(UInt8)
        case reservedBitsSet(field: String)
        case invalidAgentID(String)
        case lengthOutOfBounds(field: String, length: UInt64, limit: UInt64)
        case tooManyRecords(count: UInt64, limit: Int)
        case checksumMismatch(expected: UInt32, actual: UInt32)
        case varintOverflow(field: String)
        case invalidUTF8(field: String)
        case unknownKind(UInt8)
        case unknownEnumValue(field: String, code: UInt8)
        case sequenceMismatch(String)
        case recordCountMismatch(declared: UInt64, actual: UInt64)
        case trailingBytes(field: String, count: Int)
        case invalidEvent(record: Int, EventValidationError)
        case compression(ZstdError)
        case emptyBatch
        case unorderedMapKeys(field: String)
    }

    let code: Code

    init(_ code: Code) {
        self.code = code
    }

    /// The frame is over a size cap while decompressing: HTTP 413, not 400.
    public var isSizeLimit: Bool {
        if case .compression(let error) = code { return error.isOutputLimit }
        return false
    }

    public var description: String {
        switch code {
        case .truncated(let field): "truncated frame: input ends inside \(field)"
        case .badMagic: "not a Fleet batch frame (bad magic)"
        case .unsupportedVersion(let v): "unsupported frame format version \(v) (this build reads version \(BatchFrame.formatVersion))"
        case .reservedBitsSet(let field): "reserved bits set in \(field)"
        case .invalidAgentID(let why): "invalid agent id: \(why)"
        case .lengthOutOfBounds(let field, let length, let limit): "\(field) length \(length) exceeds \(limit)"
        case .tooManyRecords(let count, let limit): "record count \(count) exceeds the limit of \(limit)"
        case .checksumMismatch(let expected, let actual):
            "payload CRC32C mismatch (frame says \(hex(expected)), payload has \(hex(actual)))"
        case .varintOverflow(let field): "varint in \(field) is longer than 10 bytes or overflows 64 bits"
        case .invalidUTF8(let field): "\(field) is not valid UTF-8"
        case .unknownKind(let code): "unknown event kind code \(code)"
        case .unknownEnumValue(let field, let code): "unknown value \(code) for \(field)"
        case .sequenceMismatch(let why): "sequence numbers inconsistent: \(why)"
        case .recordCountMismatch(let declared, let actual): "header declares \(declared) records, payload holds \(actual)"
        case .trailingBytes(let field, let count): "\(count) unexpected bytes after \(field)"
        case .invalidEvent(let record, let error): "record \(record): \(error)"
        case .compression(let error): "\(error)"
        case .emptyBatch: "a batch holds at least one record"
        case .unorderedMapKeys(let field): "\(field): keys must be unique and in ascending byte order"
        }
    }
}

private func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
}
