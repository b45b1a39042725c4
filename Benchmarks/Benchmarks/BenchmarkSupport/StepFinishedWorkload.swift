import FleetCore

/// Generates `step_finished` events the way one RPA PC of a fleet produces
/// them, from a seed, so every run measures the same bytes. Shared by the
/// wire, collector and agent benchmarks.
///
/// The PC runs executions of ~20 fixed workflows one after another. Each
/// workflow has a fixed script of 8–40 steps (node id and action type per
/// step), shared by every PC and seed, as in a real fleet. Per step: OCR
/// 20–400 ms and UI 10–250 ms always, analysis 50–1,500 ms on ~70 % of steps,
/// a total of at least their sum, all at microsecond resolution; ~40 % cache
/// hits, ~5 % degraded, ~3 % failures with an error message (a failure ends
/// the execution). The clock advances by the step's total plus a 20–300 ms
/// gap, and by 1–10 s between executions.
public struct StepFinishedWorkload: Sendable {
    /// One workflow's script: its id and, per step, the node and the action.
    public struct Workflow: Sendable {
        public var id: String
        public var steps: [(nodeID: String, actionType: String)]
    }

    /// The workflows every PC runs, built from a fixed seed.
    public static let workflows: [Workflow] = {
        let names = [
            "invoice-entry-v3", "po-approval-v2", "vendor-onboarding-v1", "gl-reconciliation-v4",
            "payroll-export-v2", "claims-intake-v5", "customer-kyc-v1", "expense-audit-v3",
            "sap-goods-receipt-v2", "order-to-cash-v6", "credit-note-v1", "bank-statement-import-v2",
            "hr-offboarding-v1", "price-update-v3", "delivery-note-scan-v2", "tax-form-filing-v1",
            "contract-renewal-v2", "ticket-triage-v4", "inventory-count-v1", "timesheet-approval-v3",
        ]
        let actions = ["click", "type", "wait", "scroll", "read_text", "select", "hotkey"]
        var rng = SplitMix64(seed: 0xF1EE_7000_0000_0001)
        return names.map { name in
            let stepCount = rng.int(in: 8...40)
            let steps = (0..<stepCount).map { _ in
                (nodeID: "node-" + Self.padded(rng.int(in: 1...250), width: 4), actionType: rng.element(of: actions))
            }
            return Workflow(id: name, steps: steps)
        }
    }()

    /// Failure messages as executors report them.
    private static let errorMessages = [
        "element not found: button 'Post Invoice'",
        "timeout after 30000 ms waiting for window 'SAP Easy Access'",
        "OCR confidence below threshold on field 'Invoice Number'",
        "unexpected dialog 'Session expired' blocked input",
        "target moved: 'Vendor ID' not at expected position",
    ]

    /// 2026-03-02T08:00:00Z in microseconds since the epoch.
    private static let startOfShift: Int64 = 1_772_438_400_000_000

    private var rng: SplitMix64
    private var clock: Int64
    private var workflow: Workflow
    private var executionID: String
    private var stepIndex = 0

    /// A PC whose events are fixed by `seed`.
    public init(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        self.clock = Self.startOfShift + Int64(rng.int(in: 0...3_600_000_000))
        self.workflow = rng.element(of: Self.workflows)
        self.executionID = Self.executionID(using: &rng)
        self.rng = rng
    }

    /// A batch of `events` consecutive `step_finished` events from the PC
    /// `agentID`, with sequences from `firstSequence`.
    public static func batch(events: Int, seed: UInt64, agentID: String, firstSequence: UInt64 = 1) -> Batch {
        var pc = StepFinishedWorkload(seed: seed)
        let epoch = pc.epoch()
        let records = (0..<events).map { i in
            Batch.Record(sequence: firstSequence + UInt64(i), event: pc.nextEvent())
        }
        return Batch(agentID: agentID, epoch: epoch, records: records)
    }

    /// `count` consecutive batches of `eventsPerBatch` events each from the PC
    /// `agentID`: one WAL epoch, sequences 1, 2, 3, … without gaps across the
    /// batches, and the PC's clock running on from one batch to the next.
    public static func batches(count: Int, eventsPerBatch: Int, seed: UInt64, agentID: String) -> [Batch] {
        var pc = StepFinishedWorkload(seed: seed)
        let epoch = pc.epoch()
        var sequence: UInt64 = 0
        return (0..<count).map { _ in
            let records = (0..<eventsPerBatch).map { _ in
                sequence += 1
                return Batch.Record(sequence: sequence, event: pc.nextEvent())
            }
            return Batch(agentID: agentID, epoch: epoch, records: records)
        }
    }

    /// `count` consecutive events of the PC with `seed`, without sequences
    /// (what an executor hands to the agent).
    public static func events(_ count: Int, seed: UInt64) -> [Event] {
        var pc = StepFinishedWorkload(seed: seed)
        return (0..<count).map { _ in pc.nextEvent() }
    }

    /// A WAL epoch drawn from the PC's generator (odd, so never zero).
    private mutating func epoch() -> WALEpoch {
        WALEpoch(rawValue: rng.next() | 1)
    }

    /// The next step the PC finishes.
    public mutating func nextEvent() -> Event {
        let step = workflow.steps[stepIndex]
        let ocr = rng.int(in: 20_000...400_000)
        let ui = rng.int(in: 10_000...250_000)
        let analyze: Int? = rng.chance(0.70) ? rng.int(in: 50_000...1_500_000) : nil
        let total = ocr + ui + (analyze ?? 0) + rng.int(in: 500...60_000)
        let failed = rng.chance(0.03)
        let started = clock
        let finished = started + Int64(total)

        let payload = StepFinished(
            executionID: executionID,
            workflowID: workflow.id,
            nodeID: step.nodeID,
            stepNumber: stepIndex + 1,
            actionType: step.actionType,
            startedAt: Timestamp(microsecondsSinceEpoch: started),
            finishedAt: Timestamp(microsecondsSinceEpoch: finished),
            success: !failed,
            error: failed ? rng.element(of: Self.errorMessages) : nil,
            ocrMs: Self.milliseconds(ocr),
            uiMs: Self.milliseconds(ui),
            analyzeMs: analyze.map(Self.milliseconds),
            totalMs: Self.milliseconds(total),
            cacheHit: rng.chance(0.40),
            degraded: rng.chance(0.05)
        )

        stepIndex += 1
        if failed || stepIndex == workflow.steps.count {
            workflow = rng.element(of: Self.workflows)
            executionID = Self.executionID(using: &rng)
            stepIndex = 0
            clock = finished + Int64(rng.int(in: 1_000_000...10_000_000))
        } else {
            clock = finished + Int64(rng.int(in: 20_000...300_000))
        }
        return Event(timestamp: Timestamp(microsecondsSinceEpoch: finished), .stepFinished(payload))
    }

    /// One line describing `batch`'s `step_finished` events, to check the
    /// workload against the shares it aims for.
    public static func summary(of batch: Batch) -> String {
        let steps = batch.records.compactMap { record -> StepFinished? in
            if case .stepFinished(let step) = record.event.payload { return step }
            return nil
        }
        guard !steps.isEmpty else { return "no step_finished events" }
        /// The share of steps matching `predicate`, as "NN %".
        func percent(_ predicate: (StepFinished) -> Bool) -> String {
            let share = Double(steps.filter(predicate).count) * 100 / Double(steps.count)
            return String(Int(share.rounded())) + " %"
        }
        let workflows = Set(steps.map(\.workflowID)).count
        let executions = Set(steps.map(\.executionID)).count
        let times = batch.records.map(\.event.timestamp.microsecondsSinceEpoch)
        let meanGapMs = times.count > 1 ? (times[times.count - 1] - times[0]) / Int64(times.count - 1) / 1000 : 0
        return "\(steps.count) step_finished events: \(workflows) workflows, \(executions) executions, "
            + "failed \(percent { !$0.success }), cache hit \(percent(\.cacheHit)), degraded \(percent(\.degraded)), "
            + "analyze set \(percent { $0.analyzeMs != nil }), \(meanGapMs) ms between events on average"
    }

    /// Microseconds as a millisecond duration, exact to the microsecond.
    private static func milliseconds(_ micros: Int) -> Double {
        Double(micros) / 1000
    }

    /// A random UUID-v4-shaped execution id.
    private static func executionID(using rng: inout SplitMix64) -> String {
        let variant = rng.element(of: ["8", "9", "a", "b"])
        return "\(rng.hex(8))-\(rng.hex(4))-4\(rng.hex(3))-\(variant)\(rng.hex(3))-\(rng.hex(12))"
    }

    /// `value` in decimal, left-padded with zeros to `width` digits.
    private static func padded(_ value: Int, width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
