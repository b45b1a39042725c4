/// Why a benchmark's setup could not go on: a check on the workload failed
/// or a helper command did not run.
struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String
}
