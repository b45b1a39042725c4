import CZstd

/// A zstd dictionary trained from sample batches (ZDICT) and used on both
/// ends. Small frames of similar events compress markedly better with one;
/// the agent and collector must hold the same dictionary (zstd records its id
/// in each frame).
///
/// Immutable after creation: libzstd's digested dictionaries are read-only
/// and safe to share between threads, hence `@unchecked Sendable`.
public final class ZstdDictionary: @unchecked Sendable {
    public let bytes: [UInt8]
    /// The id zstd writes into frames compressed with this dictionary.
    public let id: UInt32
    private let cdict: OpaquePointer?
    private let cdictLevel: Int32
    let decompressionDictionary: OpaquePointer?

    /// Wraps dictionary bytes (for example read from a file both ends share).
    public init(bytes: [UInt8], level: Int32 = Zstd.defaultLevel) throws(ZstdError) {
        let id = bytes.withUnsafeBytes { ZDICT_getDictID($0.baseAddress, $0.count) }
        guard id != 0 else {
            throw ZstdError(.dictionaryTraining("not a zstd dictionary (no dictionary id)"))
        }
        self.bytes = bytes
        self.id = id
        self.cdictLevel = level
        self.cdict = bytes.withUnsafeBytes { ZSTD_createCDict($0.baseAddress, $0.count, level) }
        self.decompressionDictionary = bytes.withUnsafeBytes { ZSTD_createDDict($0.baseAddress, $0.count) }
    }

    /// Trains a dictionary of at most `capacity` bytes from sample inputs.
    public static func train(samples: [[UInt8]], capacity: Int = 16 << 10, level: Int32 = Zstd.defaultLevel)
        throws(ZstdError) -> ZstdDictionary
    {
        guard !samples.isEmpty else { throw ZstdError(.dictionaryTraining("no samples")) }
        let joined = samples.flatMap { $0 }
        let sizes = samples.map { $0.count }
        var buffer = [UInt8](repeating: 0, count: capacity)
        let written = buffer.withUnsafeMutableBytes { out in
            joined.withUnsafeBytes { src in
                sizes.withUnsafeBufferPointer { sizes in
                    ZDICT_trainFromBuffer(out.baseAddress, out.count, src.baseAddress, sizes.baseAddress, UInt32(sizes.count))
                }
            }
        }
        if ZDICT_isError(written) != 0 {
            throw ZstdError(.dictionaryTraining(String(cString: ZDICT_getErrorName(written))))
        }
        buffer.removeSubrange(written...)
        return try ZstdDictionary(bytes: buffer, level: level)
    }

    deinit {
        ZSTD_freeCDict(cdict)
        ZSTD_freeDDict(decompressionDictionary)
    }

    /// The digested dictionary for compression, at the level it was built for.
    func compressionDictionary(level: Int32) -> OpaquePointer? {
        level == cdictLevel ? cdict : nil
    }
}
