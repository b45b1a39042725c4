/// Fleet's shared vocabulary: events and their JSON and binary forms, the
/// batch wire frame, zstd compression and the environment hash. Everything
/// that crosses a process boundary is defined here, once.
public enum FleetVersion {
    /// The version of this Fleet build, reported in environment facts and `--version`.
    public static let current = "0.1.0"
}
