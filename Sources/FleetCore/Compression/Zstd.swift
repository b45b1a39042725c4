import CZstd

/// zstd compression over the system libzstd. Decompression is streaming with
/// a hard cap on output: a small frame that would expand past the cap is
/// refused as soon as the cap is reached, never allocated in full.
public enum Zstd {
    /// Level used on the wire; config key (agent): `shipper.zstd_level`.
    public static let defaultLevel: Int32 = 3

    /// Compresses `input` into one zstd frame.
    public static func compress(
        _ input: some Collection<UInt8>, level: Int32 = defaultLevel, dictionary: ZstdDictionary? = nil
    ) throws(ZstdError) -> [UInt8] {
        let compressor = ZstdCompressor(level: level, dictionary: dictionary)
        return try compressor.compress(input)
    }

    /// Decompresses one or more concatenated zstd frames, refusing output past `maxOutputBytes`.
    public static func decompress(
        _ input: some Collection<UInt8>, maxOutputBytes: Int, dictionary: ZstdDictionary? = nil
    ) throws(ZstdError) -> [UInt8] {
        let decompressor = ZstdDecompressor(dictionary: dictionary)
        return try decompressor.decompress(input, maxOutputBytes: maxOutputBytes)
    }

    static func check(_ result: Int, _ operation: String) throws(ZstdError) -> Int {
        if ZSTD_isError(result) != 0 {
            throw ZstdError(.library(operation: operation, message: String(cString: ZSTD_getErrorName(result))))
        }
        return result
    }
}

/// A reusable compression context. Not shared between tasks: make one per task.
public final class ZstdCompressor {
    private let context: OpaquePointer?
    public let level: Int32
    private let dictionary: ZstdDictionary?

    public init(level: Int32 = Zstd.defaultLevel, dictionary: ZstdDictionary? = nil) {
        self.context = ZSTD_createCCtx()
        self.level = level
        self.dictionary = dictionary
    }

    deinit { ZSTD_freeCCtx(context) }

    public func compress(_ input: some Collection<UInt8>) throws(ZstdError) -> [UInt8] {
        if let result = input.withContiguousStorageIfAvailable({ compressBuffer(UnsafeRawBufferPointer($0)) }) {
            return try result.get()
        }
        return try Array(input).withUnsafeBytes { compressBuffer($0) }.get()
    }

    private func compressBuffer(_ input: UnsafeRawBufferPointer) -> Result<[UInt8], ZstdError> {
        guard let context else {
            return .failure(ZstdError(.library(operation: "ZSTD_createCCtx", message: "out of memory")))
        }
        let bound = ZSTD_compressBound(input.count)
        var output = [UInt8](repeating: 0, count: bound)
        let written = output.withUnsafeMutableBytes { out -> Int in
            ZSTD_CCtx_reset(context, ZSTD_reset_session_and_parameters)
            ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
            ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
            if let dictionary {
                if let cdict = dictionary.compressionDictionary(level: level) {
                    ZSTD_CCtx_refCDict(context, cdict)
                } else {
                    dictionary.bytes.withUnsafeBytes { _ = ZSTD_CCtx_loadDictionary(context, $0.baseAddress, $0.count) }
                }
            }
            return ZSTD_compress2(context, out.baseAddress, out.count, input.baseAddress, input.count)
        }
        do {
            let n = try Zstd.check(written, "compress")
            output.removeSubrange(n...)
            return .success(output)
        } catch {
            return .failure(error)
        }
    }
}

/// A reusable streaming decompression context. Not shared between tasks.
public final class ZstdDecompressor {
    private let context: OpaquePointer?
    private let dictionary: ZstdDictionary?
    /// Output grows by this much at a time, so memory tracks real output, not claims.
    static let chunkBytes = 128 << 10
    /// Largest window accepted: 2^23 bytes. Fleet compresses with level ≤ 19, window ≤ 2^23.
    static let windowLogMax: Int32 = 23

    public init(dictionary: ZstdDictionary? = nil) {
        self.context = ZSTD_createDCtx()
        self.dictionary = dictionary
    }

    deinit { ZSTD_freeDCtx(context) }

    public func decompress(_ input: some Collection<UInt8>, maxOutputBytes: Int) throws(ZstdError) -> [UInt8] {
        if let result = input.withContiguousStorageIfAvailable({
            decompressBuffer(UnsafeRawBufferPointer($0), maxOutputBytes: maxOutputBytes)
        }) {
            return try result.get()
        }
        return try Array(input).withUnsafeBytes { decompressBuffer($0, maxOutputBytes: maxOutputBytes) }.get()
    }

    private func decompressBuffer(_ input: UnsafeRawBufferPointer, maxOutputBytes: Int) -> Result<[UInt8], ZstdError> {
        guard let context else {
            return .failure(ZstdError(.library(operation: "ZSTD_createDCtx", message: "out of memory")))
        }
        ZSTD_DCtx_reset(context, ZSTD_reset_session_and_parameters)
        // Bound the window a frame may ask for (8 MiB), so a hostile header
        // cannot make the decoder allocate a large window either.
        ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, Self.windowLogMax)
        if let ddict = dictionary?.decompressionDictionary {
            ZSTD_DCtx_refDDict(context, ddict)
        }
        guard input.count > 0 else { return .failure(ZstdError(.truncatedInput)) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: Self.chunkBytes)
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var lastResult = 0
        while true {
            let (result, produced) = chunk.withUnsafeMutableBytes { out -> (Int, Int) in
                var outBuffer = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                let r = ZSTD_decompressStream(context, &outBuffer, &inBuffer)
                return (r, outBuffer.pos)
            }
            if ZSTD_isError(result) != 0 {
                return .failure(
                    ZstdError(.library(operation: "decompress", message: String(cString: ZSTD_getErrorName(result)))))
            }
            guard output.count + produced <= maxOutputBytes else {
                return .failure(ZstdError(.outputLimitExceeded(limit: maxOutputBytes)))
            }
            output.append(contentsOf: chunk[0..<produced])
            lastResult = result
            // Done when all input is consumed and either the frame is complete or
            // zstd can make no more progress (then lastResult says it is truncated).
            if inBuffer.pos == inBuffer.size && (result == 0 || produced == 0) {
                break
            }
        }
        // A non-zero hint at the end of input means the last frame is incomplete.
        guard lastResult == 0 else { return .failure(ZstdError(.truncatedInput)) }
        return .success(output)
    }
}
