import FleetCore

/// The fleet collector: authenticates agents, merges their batches into
/// SQLite, computes summaries and runs self-healing rules.
/// (Ingest, store and summaries land with the collector issue.)
public enum FleetCollectorInfo {
    public static let version = FleetVersion.current
}
