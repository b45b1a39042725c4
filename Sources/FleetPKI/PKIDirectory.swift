import Crypto
import FleetCore
import SwiftASN1
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The files of a fleet PKI in one directory, as `fleetctl pki` writes them:
///
///     ca.pem  ca-key.pem                    the fleet CA
///     collector.pem  collector-key.pem      collector server certificate
///     admin.pem  admin-key.pem              operator client certificate
///     agents/ID.pem  agents/ID-key.pem      one client certificate per agent
///
/// Keys are PKCS#8 PEM with mode 0600; certificates are PEM with mode 0644.
public struct PKIDirectory: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public var caCertificate: String { path + "/ca.pem" }
    public var caKey: String { path + "/ca-key.pem" }
    public var collectorCertificate: String { path + "/collector.pem" }
    public var collectorKey: String { path + "/collector-key.pem" }
    public var adminCertificate: String { path + "/admin.pem" }
    public var adminKey: String { path + "/admin-key.pem" }
    public func agentCertificate(_ id: String) -> String { path + "/agents/\(id).pem" }
    public func agentKey(_ id: String) -> String { path + "/agents/\(id)-key.pem" }

    /// The files `initialize` wrote.
    public struct Written: Sendable {
        public var files: [String]
    }

    /// Creates the CA, the collector certificate for `collectorHosts` and the
    /// admin certificate. Refuses to replace an existing CA unless `force`.
    @discardableResult
    public func initialize(
        collectorHosts: [String] = ["localhost", "127.0.0.1"], adminName: String = "admin", force: Bool = false,
        now: Date = Date()
    ) throws(PKIError) -> Written {
        if !force {
            for file in [caCertificate, caKey] where Self.exists(file) {
                throw PKIError(.alreadyExists(path: file))
            }
        }
        // Validate every host before writing anything.
        for host in collectorHosts { _ = try CertificateAuthority.generalName(for: host) }
        try Self.makeDirectory(path)
        let ca = try CertificateAuthority.create(notBefore: now)
        let collector = try ca.issue(.collector(hosts: collectorHosts), notBefore: now)
        let admin = try ca.issue(.admin(name: adminName), notBefore: now)
        try Self.write(ca.issued, certificate: caCertificate, key: caKey)
        try Self.write(collector, certificate: collectorCertificate, key: collectorKey)
        try Self.write(admin, certificate: adminCertificate, key: adminKey)
        return Written(files: [caCertificate, caKey, collectorCertificate, collectorKey, adminCertificate, adminKey])
    }

    /// Issues a client certificate for agent `id`, signed by this directory's CA.
    @discardableResult
    public func issueAgent(
        _ id: String, validityDays: Int = 825, force: Bool = false, now: Date = Date()
    ) throws(PKIError) -> Written {
        if let why = AgentID.problem(with: id) { throw PKIError(.invalidAgentID(id: id, reason: why)) }
        let ca = try loadCA()
        let cert = agentCertificate(id)
        let key = agentKey(id)
        if !force, Self.exists(cert) { throw PKIError(.alreadyExists(path: cert)) }
        try Self.makeDirectory(path + "/agents")
        let issued = try ca.issue(.agent(id: id), notBefore: now, validityDays: validityDays)
        try Self.write(issued, certificate: cert, key: key)
        return Written(files: [cert, key])
    }

    /// Reads the CA certificate and key.
    public func loadCA() throws(PKIError) -> CertificateAuthority {
        let certText = try Self.read(caCertificate)
        let keyText = try Self.read(caKey)
        do {
            let certificate = try Certificate(pemEncoded: certText)
            let key = try P256.Signing.PrivateKey(pemRepresentation: keyText)
            guard Certificate.PublicKey(key.publicKey) == certificate.publicKey else {
                throw PKIError(.certificate("\(caKey) does not belong to \(caCertificate)"))
            }
            return CertificateAuthority(issued: IssuedCertificate(certificate: certificate, privateKey: key))
        } catch let error as PKIError {
            throw error
        } catch {
            throw PKIError(.unreadable(path: caCertificate, reason: "\(error)"))
        }
    }

    // MARK: Files

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    static func makeDirectory(_ path: String) throws(PKIError) {
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw PKIError(.writeFailed(path: path, reason: String(cString: strerror(errno))))
        }
    }

    static func read(_ path: String) throws(PKIError) -> String {
        guard exists(path) else { throw PKIError(.missing(path: path)) }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw PKIError(.unreadable(path: path, reason: String(cString: strerror(errno))))
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { throw PKIError(.unreadable(path: path, reason: String(cString: strerror(errno)))) }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > 1 << 20 { throw PKIError(.unreadable(path: path, reason: "larger than 1 MiB")) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func write(_ issued: IssuedCertificate, certificate: String, key: String) throws(PKIError) {
        try writeFile(key, Array(issued.privateKeyPEM.utf8), mode: 0o600)
        try writeFile(certificate, Array(try issued.certificatePEM.utf8), mode: 0o644)
    }

    /// Writes through a temporary file created with `mode` (so a key is never
    /// readable by others, even briefly), fsyncs, then renames into place.
    static func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(PKIError) {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_EXCL, mode)
        guard fd >= 0 else { throw PKIError(.writeFailed(path: path, reason: String(cString: strerror(errno)))) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                buffer.baseAddress.map { Glibc.write(fd, $0 + offset, buffer.count - offset) } ?? -1
            }
            if n <= 0 {
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                throw PKIError(.writeFailed(path: path, reason: reason))
            }
            offset += n
        }
        fchmod(fd, mode)
        fsync(fd)
        close(fd)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw PKIError(.writeFailed(path: path, reason: reason))
        }
    }
}
