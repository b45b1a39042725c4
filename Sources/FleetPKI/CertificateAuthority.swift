import Crypto
import FleetCore
import SwiftASN1
import X509

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A certificate with its private key, as PEM text ready to write.
public struct IssuedCertificate: Sendable {
    public let certificate: Certificate
    public let privateKey: P256.Signing.PrivateKey

    public var certificatePEM: String {
        get throws(PKIError) {
            do {
                return try certificate.serializeAsPEM().pemString
            } catch {
                throw PKIError(.certificate("cannot serialise: \(error)"))
            }
        }
    }

    /// PKCS#8 `PRIVATE KEY` PEM.
    public var privateKeyPEM: String { privateKey.pemRepresentation }
}

/// The fleet's certificate authority: signs the collector's server
/// certificate, the admin client certificate and one client certificate per
/// agent. ECDSA P-256 throughout; no openssl involved.
public struct CertificateAuthority: Sendable {
    public let issued: IssuedCertificate

    public init(issued: IssuedCertificate) {
        self.issued = issued
    }

    /// A new self-signed CA.
    public static func create(
        commonName: String = "Fleet CA", notBefore: Date = Date(), validityDays: Int = 3650
    ) throws(PKIError) -> CertificateAuthority {
        let key = P256.Signing.PrivateKey()
        do {
            let name = try DistinguishedName {
                OrganizationName("Fleet")
                CommonName(commonName)
            }
            let publicKey = Certificate.PublicKey(key.publicKey)
            let certificate = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: publicKey,
                notValidBefore: notBefore.addingTimeInterval(-300),
                notValidAfter: notBefore.addingTimeInterval(Double(validityDays) * 86_400),
                issuer: name,
                subject: name,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(hash: publicKey)
                },
                issuerPrivateKey: Certificate.PrivateKey(key)
            )
            return CertificateAuthority(issued: IssuedCertificate(certificate: certificate, privateKey: key))
        } catch let error as PKIError {
            throw error
        } catch {
            throw PKIError(.certificate("cannot create the CA: \(error)"))
        }
    }

    /// What a leaf certificate is for.
    public enum Role: Sendable, Hashable {
        /// The collector's TLS server certificate, valid for these DNS names and IP addresses.
        case collector(hosts: [String])
        /// An operator's client certificate for the admin API.
        case admin(name: String)
        /// An agent's client certificate; the agent id is the subject's common name.
        case agent(id: String)
    }

    /// Signs a new leaf certificate for `role`.
    public func issue(_ role: Role, notBefore: Date = Date(), validityDays: Int = 825) throws(PKIError) -> IssuedCertificate {
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        do {
            let subject: DistinguishedName
            var alternativeNames: [GeneralName] = []
            let usage: ExtendedKeyUsage.Usage
            switch role {
            case .collector(let hosts):
                guard let first = hosts.first else { throw PKIError(.invalidHost("")) }
                subject = try DistinguishedName {
                    OrganizationName("Fleet")
                    OrganizationalUnitName(PeerIdentity.collectorUnit)
                    CommonName(first)
                }
                for host in hosts {
                    alternativeNames.append(try Self.generalName(for: host))
                }
                usage = .serverAuth
            case .admin(let name):
                guard !name.isEmpty, name.utf8.count <= 64 else {
                    throw PKIError(.certificate("admin name must be 1 to 64 characters"))
                }
                subject = try DistinguishedName {
                    OrganizationName("Fleet")
                    OrganizationalUnitName(PeerIdentity.adminUnit)
                    CommonName(name)
                }
                usage = .clientAuth
            case .agent(let id):
                if let why = AgentID.problem(with: id) { throw PKIError(.invalidAgentID(id: id, reason: why)) }
                subject = try DistinguishedName {
                    OrganizationName("Fleet")
                    OrganizationalUnitName(PeerIdentity.agentUnit)
                    CommonName(id)
                }
                usage = .clientAuth
            }
            let authorityKeyID = try issued.certificate.extensions.subjectKeyIdentifier?.keyIdentifier
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                SubjectKeyIdentifier(hash: publicKey)
                if let authorityKeyID {
                    AuthorityKeyIdentifier(keyIdentifier: authorityKeyID)
                }
                try ExtendedKeyUsage([usage])
                if !alternativeNames.isEmpty {
                    SubjectAlternativeNames(alternativeNames)
                }
            }
            let certificate = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: publicKey,
                notValidBefore: notBefore.addingTimeInterval(-300),
                notValidAfter: notBefore.addingTimeInterval(Double(validityDays) * 86_400),
                issuer: issued.certificate.subject,
                subject: subject,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: extensions,
                issuerPrivateKey: Certificate.PrivateKey(issued.privateKey)
            )
            return IssuedCertificate(certificate: certificate, privateKey: key)
        } catch let error as PKIError {
            throw error
        } catch {
            throw PKIError(.certificate("cannot issue the certificate: \(error)"))
        }
    }

    /// A SAN entry: an IP address when `host` parses as one, else a DNS name.
    static func generalName(for host: String) throws(PKIError) -> GeneralName {
        if let bytes = IPAddressParser.parse(host) {
            return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes)))
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        let valid =
            !host.isEmpty && host.utf8.count <= 253
            && labels.allSatisfy { label in
                !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                    && label.utf8.allSatisfy { c in
                        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D
                            || c == 0x2A
                    }
            }
        guard valid else { throw PKIError(.invalidHost(host)) }
        return .dnsName(host)
    }
}

/// Parses textual IPv4 and IPv6 addresses into network-order bytes.
enum IPAddressParser {
    static func parse(_ text: String) -> [UInt8]? {
        if let v4 = parseIPv4(text) { return v4 }
        return parseIPv6(text)
    }

    static func parseIPv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let v = UInt8(part) else { return nil }
            out.append(v)
        }
        return out
    }

    static func parseIPv6(_ text: String) -> [UInt8]? {
        var text = Substring(text)
        if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        guard text.contains(":") else { return nil }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            for g in s.split(separator: ":", omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all: [UInt16]
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard head.count == 8 else { return nil }
            all = head
        }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}
