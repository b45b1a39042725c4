// swift-tools-version: 6.1
import PackageDescription

// Fleet's benchmarks, in their own package so that ordo-one/benchmark and its
// malloc interposer never reach the main build. Run from this folder with
// `swift package benchmark` (see README.md).
let package = Package(
    name: "FleetBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Fleet", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        // The collector benchmarks post batches over mutual TLS, as the agents do.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // The agent benchmarks run the agent's WAL writer as the agent does, in a ServiceGroup.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // What every benchmark target shares: the seeded step_finished
        // workload, the run report, small helpers.
        .target(
            name: "BenchmarkSupport",
            dependencies: [
                .product(name: "FleetCore", package: "Fleet"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/BenchmarkSupport",
            swiftSettings: [.enableUpcomingFeature("MemberImportVisibility")]
        ),
        .executableTarget(
            name: "WireBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "FleetCore", package: "Fleet"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/WireBenchmarks",
            swiftSettings: [.enableUpcomingFeature("MemberImportVisibility")],
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
        .executableTarget(
            name: "CollectorBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "FleetCollector", package: "Fleet"),
                .product(name: "FleetPKI", package: "Fleet"),
                .product(name: "FleetCore", package: "Fleet"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/CollectorBenchmarks",
            swiftSettings: [.enableUpcomingFeature("MemberImportVisibility")],
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
        .executableTarget(
            name: "AgentBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "FleetAgent", package: "Fleet"),
                .product(name: "FleetPKI", package: "Fleet"),
                .product(name: "FleetCore", package: "Fleet"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Benchmarks/AgentBenchmarks",
            swiftSettings: [.enableUpcomingFeature("MemberImportVisibility")],
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
    ]
)
