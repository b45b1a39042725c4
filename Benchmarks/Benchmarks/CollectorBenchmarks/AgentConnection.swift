import AsyncHTTPClient
import FleetCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// One simulated agent: its own HTTPS client presenting its own certificate
/// (so its own mutual-TLS connection), and its batches, compressed in advance.
struct AgentConnection: Sendable {
    let agentID: String
    /// The WAL epoch of every batch of this agent.
    let epoch: WALEpoch
    let client: HTTPClient
    /// `https://127.0.0.1:PORT/v1/batches`.
    let url: String
    /// `rounds[r]`: the compressed frames the agent posts, in order, in round `r`.
    let rounds: [[ByteBuffer]]

    /// An HTTPS client presenting `certificate`/`key` and trusting `ca`, as an agent's shipper.
    static func client(ca: String, certificate: String, key: String) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(120))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Posts the frames of round `round` one after another, each after the
    /// previous one was answered, as a shipper does; returns the statuses.
    func post(round: Int) async throws -> [HTTPResponseStatus] {
        var statuses: [HTTPResponseStatus] = []
        for frame in rounds[round] {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Encoding", value: "zstd")
            request.headers.add(name: "Content-Type", value: "application/vnd.fleet.batch")
            request.body = .bytes(frame)
            let response = try await client.execute(request, timeout: .seconds(120))
            // The acknowledgement is read to the end so the connection is reused;
            // what was stored is checked afterwards against the store itself.
            _ = try await response.body.collect(upTo: 1 << 20)
            statuses.append(response.status)
        }
        return statuses
    }
}
