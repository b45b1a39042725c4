import CZstd

#if canImport(Glibc)
import Glibc
#endif

/// One small zstd frame that expands to `total` zero bytes, made by streaming
/// 1 MiB of zeros through libzstd repeatedly (the bytes are never all in memory).
public func zstdBomb(expandingTo total: Int) -> [UInt8] {
    let cctx = ZSTD_createCCtx()
    defer { ZSTD_freeCCtx(cctx) }
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 19)
    let zeros = [UInt8](repeating: 0, count: 1 << 20)
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    var fed = 0
    while fed < total {
        let last = fed + zeros.count >= total
        zeros.withUnsafeBytes { zin in
            var input = ZSTD_inBuffer(src: zin.baseAddress, size: zin.count, pos: 0)
            while true {
                let (remaining, produced) = chunk.withUnsafeMutableBytes { zout -> (Int, Int) in
                    var output = ZSTD_outBuffer(dst: zout.baseAddress, size: zout.count, pos: 0)
                    let r = ZSTD_compressStream2(cctx, &output, &input, last ? ZSTD_e_end : ZSTD_e_continue)
                    return (r, output.pos)
                }
                out.append(contentsOf: chunk[0..<produced])
                if last ? remaining == 0 : input.pos == input.size { break }
            }
        }
        fed += zeros.count
    }
    return out
}

/// Peak resident set size of this process so far, in bytes.
public func peakRSSBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
}
