import FleetCore

/// The fleet agent: runs beside the RPA executor on every PC, records its
/// events into a crash-safe WAL and ships them to the collector.
/// (The recorder, WAL and shipper land with the agent issue.)
public enum FleetAgentInfo {
    public static let version = FleetVersion.current
}
