import ArgumentParser
import FleetPKI
import FleetTestSupport
import NIOCore
import NIOPosix
import NIOSSL
import SwiftASN1
import Synchronization
import Testing
import X509

@testable import fleetctl

#if canImport(Glibc)
import Glibc
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif


func fileMode(_ path: String) -> mode_t {
    var st = stat()
    stat(path, &st)
    return st.st_mode & 0o777
}

@Suite("PKI files")
struct PKIFileTests {
    @Test("init writes a CA, collector and admin certificates with 0600 keys")
    func initWritesFiles() throws {
        let dir = PKIDirectory(path: temporaryDirectory() + "/pki")
        try dir.initialize(collectorHosts: ["collector.lan", "10.0.0.5", "::1"])
        for key in [dir.caKey, dir.collectorKey, dir.adminKey] {
            #expect(fileMode(key) == 0o600, "\(key)")
        }
        for cert in [dir.caCertificate, dir.collectorCertificate, dir.adminCertificate] {
            #expect(fileMode(cert) == 0o644, "\(cert)")
        }
        let collector = try Certificate(pemEncoded: String(contentsOfFile: dir.collectorCertificate, encoding: .utf8))
        let names = try collector.extensions.subjectAlternativeNames.map(Array.init) ?? []
        #expect(names.contains(.dnsName("collector.lan")))
        #expect(names.contains(.ipAddress(.init(contentBytes: [10, 0, 0, 5]))))
        #expect(names.contains(.ipAddress(.init(contentBytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]))))
        #expect(PeerIdentity(certificate: collector) == .collector)
        let admin = try Certificate(pemEncoded: String(contentsOfFile: dir.adminCertificate, encoding: .utf8))
        #expect(PeerIdentity(certificate: admin) == .admin(name: "admin"))
    }

    @Test("an existing CA is kept unless forced")
    func refusesOverwrite() throws {
        let dir = PKIDirectory(path: temporaryDirectory())
        try dir.initialize()
        let before = try String(contentsOfFile: dir.caCertificate, encoding: .utf8)
        #expect(throws: PKIError.self) { try dir.initialize() }
        #expect(try String(contentsOfFile: dir.caCertificate, encoding: .utf8) == before)
        try dir.initialize(force: true)
        #expect(try String(contentsOfFile: dir.caCertificate, encoding: .utf8) != before)
    }

    @Test("agent certificates name the agent; bad ids and hosts are refused")
    func agentCertificate() throws {
        let dir = PKIDirectory(path: temporaryDirectory())
        try dir.initialize()
        try dir.issueAgent("pc-017")
        #expect(fileMode(dir.agentKey("pc-017")) == 0o600)
        let cert = try Certificate(pemEncoded: String(contentsOfFile: dir.agentCertificate("pc-017"), encoding: .utf8))
        #expect(PeerIdentity(certificate: cert) == .agent(id: "pc-017"))
        #expect(throws: PKIError.self) { try dir.issueAgent("pc-017") }
        try dir.issueAgent("pc-017", force: true)
        #expect(throws: PKIError.self) { try dir.issueAgent("../etc/passwd") }
        #expect(throws: PKIError.self) { try dir.issueAgent("") }
        #expect(throws: PKIError.self) { try PKIDirectory(path: temporaryDirectory()).initialize(collectorHosts: ["bad host"]) }
        #expect(throws: PKIError.self) { try PKIDirectory(path: temporaryDirectory()).issueAgent("pc-1") }
    }
}

/// Real TLS handshakes over 127.0.0.1 with the files FleetPKI wrote, loaded by NIOSSL.
@Suite("PKI with NIOSSL")
struct PKIHandshakeTests {
    /// Echoes what it reads and reports the identity in the client's verified certificate.
    /// The identity the server saw, shared between the event loop and the test.
    final class IdentityBox: Sendable {
        let value = Mutex<PeerIdentity?>(nil)
    }

    final class EchoHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let seen: IdentityBox
        init(seen: IdentityBox) { self.seen = seen }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            // Data flows only after the handshake, so the verified client certificate is known.
            // The echo is written once the identity is recorded, so the client's reply orders them.
            let seen = self.seen
            let channel = context.channel
            let buffer = unwrapInboundIn(data)
            channel.nioSSL_peerCertificate().whenComplete { result in
                let peer = try? result.get()
                let identity = peer.flatMap { try? Certificate(derEncoded: $0.toDERBytes()) }.flatMap(PeerIdentity.init)
                seen.value.withLock { $0 = identity }
                channel.writeAndFlush(buffer, promise: nil)
            }
        }
    }

    final class PingHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let reply: EventLoopPromise<String>
        init(reply: EventLoopPromise<String>) { self.reply = reply }
        func channelActive(context: ChannelHandlerContext) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "ping")), promise: nil)
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            reply.succeed(String(buffer: unwrapInboundIn(data)))
            context.close(promise: nil)
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            reply.fail(error)
            context.close(promise: nil)
        }
        func channelInactive(context: ChannelHandlerContext) {
            reply.fail(ChannelError.ioOnClosedChannel)
        }
    }

    struct Endpoint {
        let certificate: String
        let key: String
    }

    /// Runs a server with `server` credentials trusting `serverTrusts`, connects a client, returns
    /// the echoed text and the identity the server saw; throws when the handshake is refused.
    func exchange(server: Endpoint, serverTrusts: String, client: Endpoint?, clientTrusts: String) async throws
        -> (String, PeerIdentity?)
    {
        let group = MultiThreadedEventLoopGroup.singleton
        var serverConfig = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(server.certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: server.key, format: .pem)))
        serverConfig.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(serverTrusts))
        serverConfig.certificateVerification = .noHostnameVerification
        let serverContext = try NIOSSLContext(configuration: serverConfig)
        let seen = IdentityBox()
        let serverChannel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: serverContext))
                    try channel.pipeline.syncOperations.addHandler(EchoHandler(seen: seen))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { serverChannel.close(promise: nil) }
        let port = serverChannel.localAddress?.port ?? 0

        var clientConfig = TLSConfiguration.makeClientConfiguration()
        clientConfig.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(clientTrusts))
        if let client {
            clientConfig.certificateChain = try NIOSSLCertificate.fromPEMFile(client.certificate).map { .certificate($0) }
            clientConfig.privateKey = .privateKey(try NIOSSLPrivateKey(file: client.key, format: .pem))
        }
        let clientContext = try NIOSSLContext(configuration: clientConfig)
        let reply = group.next().makePromise(of: String.self)
        group.next().scheduleTask(in: .seconds(10)) { reply.fail(ChannelError.connectTimeout(.seconds(10))) }
        _ = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        try NIOSSLClientHandler(context: clientContext, serverHostname: "localhost"))
                    try channel.pipeline.syncOperations.addHandler(PingHandler(reply: reply))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let text = try await reply.futureResult.get()
        return (text, seen.value.withLock { $0 })
    }

    @Test("an agent certificate from the fleet CA is accepted and names the agent")
    func agentAccepted() async throws {
        let dir = PKIDirectory(path: temporaryDirectory())
        try dir.initialize()
        try dir.issueAgent("pc-1")
        let (text, identity) = try await exchange(
            server: Endpoint(certificate: dir.collectorCertificate, key: dir.collectorKey), serverTrusts: dir.caCertificate,
            client: Endpoint(certificate: dir.agentCertificate("pc-1"), key: dir.agentKey("pc-1")), clientTrusts: dir.caCertificate)
        #expect(text == "ping")
        #expect(identity == .agent(id: "pc-1"))
    }

    @Test("an agent certificate from another CA is refused")
    func otherCARefused() async throws {
        let fleet = PKIDirectory(path: temporaryDirectory())
        try fleet.initialize()
        let other = PKIDirectory(path: temporaryDirectory())
        try other.initialize()
        try other.issueAgent("pc-1")
        await #expect(throws: (any Error).self) {
            _ = try await exchange(
                server: Endpoint(certificate: fleet.collectorCertificate, key: fleet.collectorKey), serverTrusts: fleet.caCertificate,
                client: Endpoint(certificate: other.agentCertificate("pc-1"), key: other.agentKey("pc-1")),
                clientTrusts: fleet.caCertificate)
        }
    }

    @Test("an expired agent certificate is refused")
    func expiredRefused() async throws {
        let dir = PKIDirectory(path: temporaryDirectory())
        try dir.initialize(now: Date().addingTimeInterval(-10 * 86_400))
        try dir.issueAgent("pc-old", validityDays: 2, now: Date().addingTimeInterval(-5 * 86_400))
        await #expect(throws: (any Error).self) {
            _ = try await exchange(
                server: Endpoint(certificate: dir.collectorCertificate, key: dir.collectorKey), serverTrusts: dir.caCertificate,
                client: Endpoint(certificate: dir.agentCertificate("pc-old"), key: dir.agentKey("pc-old")),
                clientTrusts: dir.caCertificate)
        }
    }

    @Test("a client without a certificate is refused")
    func noClientCertificate() async throws {
        let dir = PKIDirectory(path: temporaryDirectory())
        try dir.initialize()
        await #expect(throws: (any Error).self) {
            _ = try await exchange(
                server: Endpoint(certificate: dir.collectorCertificate, key: dir.collectorKey), serverTrusts: dir.caCertificate,
                client: nil, clientTrusts: dir.caCertificate)
        }
    }
}

@Suite("fleetctl pki")
struct FleetctlPKITests {
    @Test("init and issue-agent through the command line")
    func commandLine() throws {
        let path = temporaryDirectory() + "/fleet"
        var initCommand = try Fleetctl.parseAsRoot(["pki", "init", "--dir", path, "--collector-host", "fleet.lan, 192.168.1.20"])
        try initCommand.run()
        let cert = try Certificate(pemEncoded: String(contentsOfFile: path + "/collector.pem", encoding: .utf8))
        let names = try cert.extensions.subjectAlternativeNames.map(Array.init) ?? []
        #expect(names == [.dnsName("fleet.lan"), .ipAddress(.init(contentBytes: [192, 168, 1, 20]))])
        var issue = try Fleetctl.parseAsRoot(["pki", "issue-agent", "pc-42", "--dir", path])
        try issue.run()
        #expect(fileMode(path + "/agents/pc-42-key.pem") == 0o600)
        var again = try Fleetctl.parseAsRoot(["pki", "init", "--dir", path])
        #expect(throws: ExitCode.self) { try again.run() }
        #expect(throws: (any Error).self) { try Fleetctl.parseAsRoot(["pki", "issue-agent", "pc-1", "--dir", path, "--days", "0"]) }
    }
}
