/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by the
/// batch frame and the agent's WAL records. Slicing-by-8 in software.
public enum CRC32C {
    /// The CRC of `bytes`, continuing from `crc` (0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var c = ~crc
        let t = table
        var i = 0
        let n = bytes.count
        guard n > 0, let base = bytes.baseAddress else { return crc }
        while n - i >= 8 {
            let lo = UInt32(base.load(fromByteOffset: i, as: UInt8.self))
                | UInt32(base.load(fromByteOffset: i + 1, as: UInt8.self)) << 8
                | UInt32(base.load(fromByteOffset: i + 2, as: UInt8.self)) << 16
                | UInt32(base.load(fromByteOffset: i + 3, as: UInt8.self)) << 24
            let x = c ^ lo
            c = t[7 * 256 + Int(x & 0xFF)] ^ t[6 * 256 + Int((x >> 8) & 0xFF)]
                ^ t[5 * 256 + Int((x >> 16) & 0xFF)] ^ t[4 * 256 + Int(x >> 24)]
                ^ t[3 * 256 + Int(base.load(fromByteOffset: i + 4, as: UInt8.self))]
                ^ t[2 * 256 + Int(base.load(fromByteOffset: i + 5, as: UInt8.self))]
                ^ t[1 * 256 + Int(base.load(fromByteOffset: i + 6, as: UInt8.self))]
                ^ t[Int(base.load(fromByteOffset: i + 7, as: UInt8.self))]
            i += 8
        }
        while i < n {
            c = t[Int((c ^ UInt32(base.load(fromByteOffset: i, as: UInt8.self))) & 0xFF)] ^ (c >> 8)
            i += 1
        }
        return ~c
    }

    /// The CRC of a byte collection.
    public static func checksum(_ bytes: some Collection<UInt8>, continuing crc: UInt32 = 0) -> UInt32 {
        if let result = bytes.withContiguousStorageIfAvailable({ checksum(UnsafeRawBufferPointer($0), continuing: crc) }) {
            return result
        }
        return Array(bytes).withUnsafeBytes { checksum($0, continuing: crc) }
    }

    /// 8 × 256 entries: table[k*256 + b] is the CRC of byte b followed by k zero bytes.
    private static let table: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for b in 0..<256 {
            var c = UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[b] = c
        }
        for b in 0..<256 {
            for k in 1..<8 {
                let prev = t[(k - 1) * 256 + b]
                t[k * 256 + b] = t[Int(prev & 0xFF)] ^ (prev >> 8)
            }
        }
        return t
    }()
}
