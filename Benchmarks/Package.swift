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
    ],
    targets: [
        .executableTarget(
            name: "WireBenchmarks",
            dependencies: [
                .product(name: "FleetCore", package: "Fleet"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/WireBenchmarks",
            swiftSettings: [.enableUpcomingFeature("MemberImportVisibility")],
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        )
    ]
)
