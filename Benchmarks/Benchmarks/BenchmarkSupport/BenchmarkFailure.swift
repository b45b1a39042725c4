/// Why a benchmark's setup could not go on: a check on the workload failed
/// or a helper command did not run.
public struct BenchmarkFailure: Error, CustomStringConvertible {
    public var description: String

    public init(description: String) {
        self.description = description
    }
}
