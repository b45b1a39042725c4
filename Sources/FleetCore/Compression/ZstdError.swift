/// A zstd failure: what libzstd said, or a cap that was reached.
public struct ZstdError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case library(operation: String, message: String)
        case outputLimitExceeded(limit: Int)
        case truncatedInput
        case dictionaryTraining(String)
    }

    let code: Code

    init(_ code: Code) {
        self.code = code
    }

    /// True when decompression stopped because the output cap was reached.
    public var isOutputLimit: Bool {
        if case .outputLimitExceeded = code { return true }
        return false
    }

    public var description: String {
        switch code {
        case .library(let operation, let message): "zstd \(operation) failed: \(message)"
        case .outputLimitExceeded(let limit): "decompressed size exceeds the limit of \(limit) bytes"
        case .truncatedInput: "zstd input ends inside a frame"
        case .dictionaryTraining(let message): "zstd dictionary training failed: \(message)"
        }
    }
}
