extension Event {
    /// Checks every field against the contract; throws the first violation found.
    public func validate() throws(EventValidationError) {
        guard timestamp.isRepresentable else {
            throw .init(.outOfRange("years 0001 to 9999"), field: "ts")
        }
        try payload.validate()
    }
}

extension EventPayload {
    public func validate() throws(EventValidationError) {
        switch self {
        case .executionStarted(let e):
            try check(id: e.executionID, "execution_id")
            try check(id: e.workflowID, "workflow_id")
            try check(count: e.totalSteps, "total_steps")
        case .executionFinished(let e):
            try check(id: e.executionID, "execution_id")
            try check(id: e.workflowID, "workflow_id")
            try check(count: e.totalSteps, "total_steps")
            try check(count: e.stepsCompleted, "steps_completed")
            try check(count: e.stepsFailed, "steps_failed")
            try check(duration: e.durationMs, "duration_ms")
            try check(message: e.errorMessage, "error_message")
        case .stepFinished(let e):
            try check(id: e.executionID, "execution_id")
            try check(id: e.workflowID, "workflow_id")
            try check(id: e.nodeID, "node_id")
            try check(count: e.stepNumber, "step_number")
            try check(name: e.actionType, "action_type")
            guard e.startedAt.isRepresentable else { throw .init(.outOfRange("years 0001 to 9999"), field: "started_at") }
            guard e.finishedAt.isRepresentable else { throw .init(.outOfRange("years 0001 to 9999"), field: "finished_at") }
            guard e.finishedAt >= e.startedAt else { throw .invalid("finished_at", "earlier than started_at") }
            try check(message: e.error, "error")
            try check(duration: e.ocrMs, "ocr_ms")
            try check(duration: e.uiMs, "ui_ms")
            try check(duration: e.analyzeMs, "analyze_ms")
            try check(duration: e.totalMs, "total_ms")
        case .recoveryAttempted(let e):
            try check(id: e.executionID, "execution_id")
            try check(id: e.workflowID, "workflow_id")
            if let node = e.nodeID { try check(id: node, "node_id") }
            try check(name: e.strategy, "strategy")
            try check(duration: e.durationMs, "duration_ms")
            if let id = e.commandID { try check(id: id, "command_id") }
        case .resolution(let e):
            try check(id: e.targetHash, "target_hash")
            try check(name: e.strategy, "strategy")
            try check(duration: e.durationMs, "duration_ms")
            if let c = e.confidence { try check(c, in: 0...1, "confidence") }
            if let h = e.screenStateHash { try check(id: h, "screen_state_hash") }
            try check(count: e.candidates, "candidates")
            if let t = e.errorType { try check(name: t, "error_type") }
            if let id = e.executionID { try check(id: id, "execution_id") }
            if let id = e.workflowID { try check(id: id, "workflow_id") }
        case .error(let e):
            try check(name: e.errorType, "error_type")
            try check(message: e.message, "message")
            try check(name: e.component, "component")
            try check(map: e.context, limit: EventLimits.maxLabels, "context")
            if let id = e.executionID { try check(id: id, "execution_id") }
            if let id = e.workflowID { try check(id: id, "workflow_id") }
        case .resourceSample(let e):
            try check(e.cpuPercent, in: 0...100, "cpu_percent")
            guard e.memoryUsedBytes <= e.memoryTotalBytes else {
                throw .invalid("memory_used_bytes", "larger than memory_total_bytes")
            }
            guard e.gpus.count <= EventLimits.maxGPUs else { throw .init(.tooMany(limit: EventLimits.maxGPUs), field: "gpus") }
            for (i, gpu) in e.gpus.enumerated() {
                try check(count: gpu.index, "gpus[\(i)].index")
                try check(text: gpu.name, max: EventLimits.maxNameBytes, "gpus[\(i)].name")
                if let u = gpu.utilizationPercent { try check(u, in: 0...100, "gpus[\(i)].utilization_percent") }
                if let used = gpu.memoryUsedBytes, let total = gpu.memoryTotalBytes, used > total {
                    throw .invalid("gpus[\(i)].memory_used_bytes", "larger than memory_total_bytes")
                }
            }
        case .environment(let e):
            try check(map: e.facts, limit: EventLimits.maxFacts, "facts")
        case .metric(let e):
            try check(name: e.name, "name")
            guard e.value.isFinite else { throw .init(.notFinite, field: "value") }
            try check(map: e.labels, limit: EventLimits.maxLabels, "labels")
        case .commandResult(let e):
            try check(id: e.commandID, "command_id")
            try check(name: e.action, "action")
            if let code = e.exitCode {
                try check(Double(code), in: Double(Int32.min)...Double(Int32.max), "exit_code")
            }
            try check(text: e.outputTail, max: EventLimits.maxOutputBytes, "output_tail")
            try check(duration: e.durationMs, "duration_ms")
            try check(message: e.reason, "reason")
        case .agentStatus(let e):
            try check(message: e.lastError, "last_error")
        }
    }
}

// MARK: - Field checks

private func check(id value: String, _ field: String) throws(EventValidationError) {
    guard !value.isEmpty else { throw .init(.empty, field: field) }
    guard value.utf8.count <= EventLimits.maxIDBytes else {
        throw .init(.tooLong(limit: EventLimits.maxIDBytes), field: field)
    }
}

private func check(name value: String, _ field: String) throws(EventValidationError) {
    guard !value.isEmpty else { throw .init(.empty, field: field) }
    try check(text: value, max: EventLimits.maxNameBytes, field)
}

private func check(message value: String?, _ field: String) throws(EventValidationError) {
    try check(text: value, max: EventLimits.maxMessageBytes, field)
}

private func check(text value: String?, max: Int, _ field: String) throws(EventValidationError) {
    guard let value else { return }
    guard value.utf8.count <= max else { throw .init(.tooLong(limit: max), field: field) }
}

private func check(count value: Int?, _ field: String) throws(EventValidationError) {
    guard let value else { return }
    guard value >= 0, value <= EventLimits.maxCount else {
        throw .init(.outOfRange("0...\(EventLimits.maxCount)"), field: field)
    }
}

private func check(duration value: Double?, _ field: String) throws(EventValidationError) {
    guard let value else { return }
    guard value.isFinite else { throw .init(.notFinite, field: field) }
    guard value >= 0 else { throw .invalid(field, "negative duration") }
    guard value <= EventLimits.maxDurationMs else {
        throw .init(.outOfRange("0...\(Int(EventLimits.maxDurationMs)) ms"), field: field)
    }
}

private func check(_ value: Double, in range: ClosedRange<Double>, _ field: String) throws(EventValidationError) {
    guard value.isFinite else { throw .init(.notFinite, field: field) }
    guard range.contains(value) else {
        throw .init(.outOfRange("\(range.lowerBound.shortText)...\(range.upperBound.shortText)"), field: field)
    }
}

private func check(map: [String: String], limit: Int, _ field: String) throws(EventValidationError) {
    guard map.count <= limit else { throw .init(.tooMany(limit: limit), field: field) }
    for (key, value) in map {
        guard !key.isEmpty else { throw .init(.empty, field: "\(field) key") }
        guard key.utf8.count <= EventLimits.maxKeyBytes else {
            throw .init(.tooLong(limit: EventLimits.maxKeyBytes), field: "\(field) key \"\(key.prefix(32))…\"")
        }
        guard value.utf8.count <= EventLimits.maxValueBytes else {
            throw .init(.tooLong(limit: EventLimits.maxValueBytes), field: "\(field)[\"\(key)\"]")
        }
    }
}

extension Double {
    fileprivate var shortText: String {
        self == rounded() && abs(self) < 1e15 ? String(Int64(self)) : String(self)
    }
}
