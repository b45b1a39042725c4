/// A PKI operation that could not be done, with a message an operator can act on.
public struct PKIError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case alreadyExists(path: String)
        case missing(path: String)
        case unreadable(path: String, reason: String)
        case writeFailed(path: String, reason: String)
        case invalidHost(String)
        case invalidAgentID(id: String, reason: String)
        case certificate(String)
    }

    let code: Code

    init(_ code: Code) {
        self.code = code
    }

    public var description: String {
        switch code {
        case .alreadyExists(let path): "\(path) already exists; pass --force to replace it (every certificate it signed stops being trusted)"
        case .missing(let path): "\(path) not found; run `fleetctl pki init --dir DIR` first"
        case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
        case .writeFailed(let path, let reason): "cannot write \(path): \(reason)"
        case .invalidHost(let host): "invalid collector host \"\(host)\": expected a DNS name or an IP address"
        case .invalidAgentID(let id, let reason): "invalid agent id \"\(id)\": \(reason)"
        case .certificate(let reason): "certificate error: \(reason)"
        }
    }
}
