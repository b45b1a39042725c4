import X509

/// Who a Fleet certificate names. The role is the subject's organizational
/// unit (`fleet-agent`, `fleet-admin`, `fleet-collector`); the name is its
/// common name (the agent id for agents).
public enum PeerIdentity: Sendable, Hashable, CustomStringConvertible {
    case agent(id: String)
    case admin(name: String)
    case collector

    public static let agentUnit = "fleet-agent"
    public static let adminUnit = "fleet-admin"
    public static let collectorUnit = "fleet-collector"

    /// The identity a verified certificate names, or nil when it names none.
    public init?(certificate: Certificate) {
        var unit: String?
        var common: String?
        for rdn in certificate.subject {
            for attribute in rdn {
                if attribute.type == .RDNAttributeType.organizationalUnitName {
                    unit = String(describing: attribute.value)
                } else if attribute.type == .RDNAttributeType.commonName {
                    common = String(describing: attribute.value)
                }
            }
        }
        guard let unit, let common, !common.isEmpty else { return nil }
        switch unit {
        case Self.agentUnit: self = .agent(id: common)
        case Self.adminUnit: self = .admin(name: common)
        case Self.collectorUnit: self = .collector
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .agent(let id): "agent \(id)"
        case .admin(let name): "admin \(name)"
        case .collector: "collector"
        }
    }
}
