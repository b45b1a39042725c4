import Synchronization

/// A token bucket per agent, counted in events: `rate` events per second
/// sustained, up to `burst` at once. Config keys `ingest.agent_events_per_second`
/// and `ingest.agent_burst_events`.
final class AgentRateLimiter: Sendable {
    struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    let rate: Double
    let burst: Double
    private let buckets = Mutex<[String: Bucket]>([:])

    init(eventsPerSecond: Int, burst: Int) {
        rate = Double(eventsPerSecond)
        self.burst = Double(max(burst, 1))
    }

    /// Takes `events` tokens, or says how long to wait before trying again.
    func admit(agent: String, events: Int, now: ContinuousClock.Instant = .now) -> Duration? {
        guard rate > 0 else { return nil }
        return buckets.withLock { buckets in
            var bucket = buckets[agent] ?? Bucket(tokens: burst, updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(burst, bucket.tokens + seconds * rate)
            bucket.updated = now
            // A batch larger than the whole bucket is admitted when the bucket is full, or it could never pass.
            let cost = min(Double(events), burst)
            if bucket.tokens >= cost {
                bucket.tokens -= cost
                buckets[agent] = bucket
                return nil
            }
            buckets[agent] = bucket
            return .milliseconds(Int64(((cost - bucket.tokens) / rate * 1000).rounded(.up)))
        }
    }
}
