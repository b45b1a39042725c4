/// Appends the primitives of Fleet's binary forms: little-endian integers,
/// LEB128 varints, zigzag varints, length-prefixed UTF-8 strings.
public struct ByteWriter: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }

    public mutating func u32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func u64(_ v: UInt64) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func f64(_ v: Double) { u64(v.bitPattern) }

    public mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    public mutating func zigzag(_ v: Int64) {
        varint(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
    }

    public mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    public mutating func raw(_ other: some Collection<UInt8>) { bytes.append(contentsOf: other) }

    /// Overwrites 4 bytes at `offset` with a little-endian value.
    public mutating func patchU32(_ v: UInt32, at offset: Int) {
        let le = v.littleEndian
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: le >> (8 * UInt32(i))) }
    }
}

/// Reads the primitives written by ``ByteWriter`` with bounds checks on
/// every access; each failure is a ``WireError`` naming the field.
public struct ByteReader {
    @usableFromInline let base: UnsafeRawBufferPointer
    public private(set) var offset: Int
    public let end: Int

    /// Reads `base[start..<end]`. The buffer must outlive the reader.
    public init(_ base: UnsafeRawBufferPointer, start: Int = 0, end: Int? = nil) {
        self.base = base
        self.end = min(end ?? base.count, base.count)
        self.offset = min(max(start, 0), self.end)
    }

    public var remaining: Int { end - offset }
    public var isAtEnd: Bool { offset >= end }

    public mutating func u8(_ field: @autoclosure () -> String) throws(WireError) -> UInt8 {
        guard offset < end else { throw WireError(.truncated(field: field())) }
        defer { offset += 1 }
        return base[offset]
    }

    public mutating func u32(_ field: @autoclosure () -> String) throws(WireError) -> UInt32 {
        guard remaining >= 4 else { throw WireError(.truncated(field: field())) }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(base[offset + i]) << (8 * UInt32(i)) }
        offset += 4
        return v
    }

    public mutating func u64(_ field: @autoclosure () -> String) throws(WireError) -> UInt64 {
        guard remaining >= 8 else { throw WireError(.truncated(field: field())) }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(base[offset + i]) << (8 * UInt64(i)) }
        offset += 8
        return v
    }

    public mutating func f64(_ field: @autoclosure () -> String) throws(WireError) -> Double {
        Double(bitPattern: try u64(field()))
    }

    public mutating func varint(_ field: @autoclosure () -> String) throws(WireError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw WireError(.truncated(field: field())) }
            let byte = base[offset]
            offset += 1
            if shift == 63 && byte > 1 { throw WireError(.varintOverflow(field: field())) }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw WireError(.varintOverflow(field: field())) }
        }
    }

    public mutating func zigzag(_ field: @autoclosure () -> String) throws(WireError) -> Int64 {
        let v = try varint(field())
        return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
    }

    /// A varint that must fit in `Int` and be at most `limit`.
    public mutating func count(_ field: @autoclosure () -> String, limit: Int) throws(WireError) -> Int {
        let v = try varint(field())
        guard v <= UInt64(limit) else {
            throw WireError(.lengthOutOfBounds(field: field(), length: v, limit: UInt64(limit)))
        }
        return Int(v)
    }

    /// A length-prefixed UTF-8 string of at most `limit` bytes.
    public mutating func string(_ field: @autoclosure () -> String, limit: Int) throws(WireError) -> String {
        let length = try varint(field())
        guard length <= UInt64(limit) else {
            throw WireError(.lengthOutOfBounds(field: field(), length: length, limit: UInt64(limit)))
        }
        let n = Int(length)
        guard n <= remaining else { throw WireError(.truncated(field: field())) }
        let slice = UnsafeRawBufferPointer(rebasing: base[offset..<(offset + n)])
        guard let s = String(validating: slice.assumingMemoryBound(to: UInt8.self), as: UTF8.self) else {
            throw WireError(.invalidUTF8(field: field()))
        }
        offset += n
        return s
    }

    /// Skips `n` bytes, which must be there.
    public mutating func skip(_ n: Int, _ field: @autoclosure () -> String) throws(WireError) {
        guard n >= 0, n <= remaining else { throw WireError(.truncated(field: field())) }
        offset += n
    }
}
