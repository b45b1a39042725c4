import Benchmark

extension Benchmark.Configuration {
    /// For benchmarks that report figures rather than time: `metrics` (custom
    /// ones) shown as exact counts, each iteration one measurement.
    public static func counts(
        _ metrics: [BenchmarkMetric], warmupIterations: Int = 0, maxIterations: Int = 1,
        maxDuration: Duration = Benchmark.defaultConfiguration.maxDuration
    ) -> Benchmark.Configuration {
        .init(
            metrics: metrics,
            units: Dictionary(uniqueKeysWithValues: metrics.map { ($0, BenchmarkUnits.count) }),
            warmupIterations: warmupIterations,
            scalingFactor: .one,
            maxDuration: maxDuration,
            maxIterations: maxIterations
        )
    }
}
