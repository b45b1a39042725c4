import FleetCore
import Foundation
import Testing

@testable import FleetAgent

@Suite("nvidia-smi parser on real H100 output")
struct NvidiaSMITests {
    static func fixture(_ name: String) throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/nvidia-smi/\(name)")
        return try String(contentsOf: url, encoding: .utf8)
    }

    @Test("idle and loaded, with header and units")
    func withHeader() throws {
        let idle = NvidiaSMI.parse(try Self.fixture("query-gpu-idle.csv"))
        #expect(idle == [GPUSample(index: 0, name: "NVIDIA H100 80GB HBM3", utilizationPercent: 0, memoryUsedBytes: 0, memoryTotalBytes: 81559 << 20)])
        let loaded = NvidiaSMI.parse(try Self.fixture("query-gpu-loaded.csv"))
        #expect(loaded.first?.utilizationPercent == 100)
        #expect(loaded.first?.memoryUsedBytes == 20469 << 20)
    }

    @Test("noheader,nounits with the column order given")
    func noHeader() throws {
        let gpus = NvidiaSMI.parse(
            try Self.fixture("query-gpu-idle-noheader-nounits.csv"),
            columns: ["index", "name", "utilization.gpu", "memory.total", "memory.used", "temperature.gpu", "power.draw"])
        #expect(gpus == [GPUSample(index: 0, name: "NVIDIA H100 80GB HBM3", utilizationPercent: 0, memoryUsedBytes: 0, memoryTotalBytes: 81559 << 20)])
    }

    @Test("[N/A], [Not Supported], empty and garbage fields are unknown, never a crash")
    func unknowns() {
        let text = """
            index, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB]
            0, Tesla T4, [N/A], [Not Supported], 15360 MiB
            1, , 57 %, 99999999 MiB, 100 MiB
            garbage line
            """
        let gpus = NvidiaSMI.parse(text)
        #expect(gpus.count == 3)
        #expect(gpus[0].utilizationPercent == nil && gpus[0].memoryUsedBytes == nil && gpus[0].memoryTotalBytes == 15360 << 20)
        #expect(gpus[1].name == "GPU 1" && gpus[1].memoryUsedBytes == gpus[1].memoryTotalBytes)
        #expect(NvidiaSMI.parse("") == [])
        // Every parsed sample is a valid event.
        for gpu in gpus {
            let event = Event(.resourceSample(ResourceSample(cpuPercent: 1, memoryUsedBytes: 1, memoryTotalBytes: 1, diskFreeBytes: 1, gpus: [gpu])))
            #expect(throws: Never.self) { try event.validate() }
        }
    }

    @Test("no nvidia-smi on this machine means no GPU, not an error")
    func absent() {
        #expect(NvidiaSMI.sample(executable: "/nonexistent/nvidia-smi") == nil)
    }
}
