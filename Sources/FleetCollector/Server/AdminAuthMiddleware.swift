import Crypto
import FleetPKI
import Hummingbird

/// Lets a request through when it presents the admin client certificate or
/// a bearer token whose SHA-256 is in `admin.token_sha256`; 401 otherwise.
/// Tokens are compared by digest, so the config holds no secret.
struct AdminAuthMiddleware: RouterMiddleware {
    typealias Context = CollectorRequestContext
    let tokenDigests: Set<String>
    /// Paths served without credentials (`/metrics` when `metrics_auth = "open"`).
    let openPaths: Set<String>

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if openPaths.contains(request.uri.path) { return try await next(request, context) }
        if case .admin = await context.peerIdentity() { return try await next(request, context) }
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
            let token = header.dropFirst("Bearer ".count)
            if tokenDigests.contains(Self.digest(String(token))) { return try await next(request, context) }
        }
        throw HTTPError(
            .unauthorized, headers: [.wwwAuthenticate: "Bearer realm=\"fleet\""],
            message: "present the admin client certificate or a bearer token")
    }

    static func digest(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { byte in
            let s = String(byte, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined()
    }
}
