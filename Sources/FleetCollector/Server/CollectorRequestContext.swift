import FleetPKI
import Hummingbird
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// The request context of both collector listeners. Hummingbird has no API
/// for the TLS client certificate, so the context keeps the channel and asks
/// NIOSSL for the verified peer certificate.
public struct CollectorRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Who the verified client certificate names; nil without one.
    func peerIdentity() async -> PeerIdentity? {
        guard let peer = try? await channel.nioSSL_peerCertificate().get(),
            let certificate = try? Certificate(derEncoded: peer.toDERBytes())
        else { return nil }
        return PeerIdentity(certificate: certificate)
    }
}
