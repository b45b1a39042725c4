import FleetCore
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The exact bytes of docs/PROTOCOL.md's test vector. Any change to the
/// encoding breaks this test: bump the format version instead.
@Suite("Batch frame test vector")
struct BatchFrameVectorTests {
    static let t0: Int64 = 1_795_434_530_000_000  // 2026-11-23T08:28:50Z

    static let batch = Batch(
        agentID: "pc-017",
        epoch: WALEpoch(rawValue: 0x0123_4567_89AB_CDEF),
        records: [
            .init(
                sequence: 41,
                event: Event(
                    timestamp: Timestamp(microsecondsSinceEpoch: t0),
                    .executionStarted(ExecutionStarted(executionID: "ex-9", workflowID: "invoice", totalSteps: 2)))),
            .init(
                sequence: 42,
                event: Event(
                    timestamp: Timestamp(microsecondsSinceEpoch: t0 + 412_500),
                    .stepFinished(
                        StepFinished(
                            executionID: "ex-9", workflowID: "invoice", nodeID: "n1", stepNumber: 1, actionType: "click",
                            startedAt: Timestamp(microsecondsSinceEpoch: t0 + 100_000),
                            finishedAt: Timestamp(microsecondsSinceEpoch: t0 + 412_500), success: true,
                            ocrMs: 85.25, uiMs: 40, analyzeMs: 150.125, totalMs: 312.5, cacheHit: true)))),
            .init(
                sequence: 44,
                event: Event(
                    timestamp: Timestamp(microsecondsSinceEpoch: t0 + 900_000),
                    .executionFinished(
                        ExecutionFinished(
                            executionID: "ex-9", workflowID: "invoice", status: .failed, totalSteps: 2, stepsCompleted: 1,
                            stepsFailed: 1, durationMs: 900, errorMessage: "timeout")))),
        ])

    static let expectedHex =
        "464c544201000670632d303137efcdab896745230129000000000000002c00000000000000030000006b000000bd5f590b19010180b286d685bcb006010465782d3907696e766f696365022d0301a8ad32730465782d3907696e766f696365026e310105636c69636be7922600b48913829a05c0b802ed940922020298c13b070465782d3907696e766f69636501020101a0f7360774696d656f7574"

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { b in
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined()
    }

    @Test("encodes to the documented bytes and back")
    func exactBytes() throws {
        let frame = try BatchFrame.encode(Self.batch)
        #expect(Self.hex(frame) == Self.expectedHex)
        #expect(try BatchFrame.decode(frame) == Self.batch)
    }

    @Test("docs/PROTOCOL.md holds the same vector")
    func documented() throws {
        let docs = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/PROTOCOL.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let squeezed = text.filter { !$0.isWhitespace }
        #expect(squeezed.contains(Self.expectedHex))
        // The environment-hash vector is documented beside it.
        #expect(squeezed.contains("Hash:**`\(EnvironmentHash(facts: EnvironmentHashTests.vectorFacts).hex)`**"))
    }
}
