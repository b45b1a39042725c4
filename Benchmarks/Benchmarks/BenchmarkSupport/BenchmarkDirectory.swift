import Foundation

/// Where a benchmark target keeps what it generates: a folder under this
/// package's `.build/` (next to the build products and, like them, ignored
/// by git), e.g. `Benchmarks/.build/agent-benchmarks`.
public enum BenchmarkDirectory {
    /// This package's folder (`Benchmarks/`).
    public static var package: String {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // BenchmarkSupport
            .deletingLastPathComponent()  // Benchmarks (targets)
            .deletingLastPathComponent()  // Benchmarks (package)
            .path
    }

    /// `Benchmarks/.build/NAME`.
    public static func named(_ name: String) -> String {
        package + "/.build/" + name
    }
}

extension Duration {
    /// The duration in seconds.
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}
