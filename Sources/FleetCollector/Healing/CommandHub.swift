import FleetCore

/// Who has commands waiting, and who is waiting for commands: the ingest
/// path asks the store for an agent's commands only when the hub says there
/// are some, and `GET /v1/commands?wait=` sleeps here until a command for its
/// agent is queued (or its time is up).
actor CommandHub {
    private var agentsWithCommands: Set<String> = []
    private var waiters: [String: [Int: CheckedContinuation<Void, Never>]] = [:]
    private var nextWaiter = 0

    /// Whether `agent` may have commands to deliver.
    func mayHaveCommands(_ agent: String) -> Bool { agentsWithCommands.contains(agent) }

    /// Everything due for `agent` was just handed over.
    func delivered(_ agent: String) {
        agentsWithCommands.remove(agent)
    }

    /// A command for `agent` was queued (or is due again): wake its long-polls.
    func queued(for agent: String) {
        agentsWithCommands.insert(agent)
        for (_, waiter) in waiters.removeValue(forKey: agent) ?? [:] { waiter.resume() }
    }

    /// Waits until a command is queued for `agent` or `timeout` passes.
    func wait(for agent: String, timeout: Duration) async {
        let id = nextWaiter
        nextWaiter += 1
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
            }
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        Task { await self.register(agent: agent, id: id, continuation) }
                    }
                } onCancel: {
                    Task { await self.cancel(agent: agent, id: id) }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private var cancelled: Set<Int> = []

    private func register(agent: String, id: Int, _ continuation: CheckedContinuation<Void, Never>) {
        // Cancelled before registering, or a command arrived meanwhile.
        if cancelled.remove(id) != nil || agentsWithCommands.contains(agent) {
            continuation.resume()
            return
        }
        waiters[agent, default: [:]][id] = continuation
    }

    private func cancel(agent: String, id: Int) {
        if let waiter = waiters[agent]?.removeValue(forKey: id) {
            waiter.resume()
        } else {
            // Not registered yet: resume it as soon as it is.
            cancelled.insert(id)
        }
        if waiters[agent]?.isEmpty == true { waiters[agent] = nil }
    }
}
