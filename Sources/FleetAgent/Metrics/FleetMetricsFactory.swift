public import CoreMetrics
import FleetCore
import Synchronization

/// A swift-metrics backend that turns counters, gauges, meters, recorders
/// and timers from any Swift library in the executor's process into `metric`
/// events. Counters and gauges are cheap to update: they accumulate in memory
/// and ``flush()`` (called every `interval` by the agent) records one event
/// per changed series. Timers and aggregating recorders record each
/// observation as a `histogram` sample (durations in milliseconds).
///
///     MetricsSystem.bootstrap(FleetMetricsFactory(recorder: agent.recorder))
public final class FleetMetricsFactory: MetricsFactory {
    let recorder: Recorder
    private let series = Mutex<[ObjectIdentifier: Series]>([:])

    public init(recorder: Recorder) {
        self.recorder = recorder
    }

    /// One accumulating series.
    final class Series: Sendable {
        let name: String
        let labels: [String: String]
        let kind: MetricKind
        /// (value, changed since last flush)
        let state = Mutex<(Double, Bool)>((0, false))
        init(name: String, labels: [String: String], kind: MetricKind) {
            self.name = name
            self.labels = labels
            self.kind = kind
        }
    }

    static func labels(_ dimensions: [(String, String)]) -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in dimensions.prefix(EventLimits.maxLabels) where !k.isEmpty {
            out[String(k).utf8Prefix(EventLimits.maxKeyBytes)] = String(v).utf8Prefix(EventLimits.maxValueBytes)
        }
        return out
    }

    static func name(_ label: String) -> String {
        label.isEmpty ? "unnamed" : label.utf8Prefix(EventLimits.maxNameBytes)
    }

    func register<H: AnyObject>(_ handler: H, _ series: Series) -> H {
        self.series.withLock { $0[ObjectIdentifier(handler)] = series }
        return handler
    }

    /// Records one event per series that changed since the last flush.
    public func flush() {
        let all = series.withLock { Array($0.values) }
        for s in all {
            let (value, changed): (Double, Bool) = s.state.withLock { state in
                defer {
                    state.1 = false
                    if s.kind == .counter { state.0 = 0 }
                }
                return state
            }
            if changed {
                recorder.record(Event(.metric(MetricSample(name: s.name, kind: s.kind, value: value, labels: s.labels))))
            }
        }
    }

    final class Accumulator: CounterHandler, FloatingPointCounterHandler, MeterHandler, RecorderHandler, Sendable {
        let series: Series
        let recorder: Recorder
        let aggregate: Bool
        init(series: Series, recorder: Recorder, aggregate: Bool = false) {
            self.series = series
            self.recorder = recorder
            self.aggregate = aggregate
        }
        func increment(by amount: Int64) { add(Double(amount)) }
        func increment(by amount: Double) { add(amount) }
        func decrement(by amount: Double) { add(-amount) }
        func reset() { series.state.withLock { $0 = (0, true) } }
        func set(_ value: Int64) { set(Double(value)) }
        func set(_ value: Double) { series.state.withLock { $0 = (value, true) } }
        func record(_ value: Int64) { record(Double(value)) }
        func record(_ value: Double) {
            guard value.isFinite else { return }
            if aggregate {
                recorder.record(Event(.metric(MetricSample(name: series.name, kind: .histogram, value: value, labels: series.labels))))
            } else {
                set(value)
            }
        }
        private func add(_ amount: Double) {
            guard amount.isFinite else { return }
            series.state.withLock { $0 = ($0.0 + amount, true) }
        }
    }

    final class TimerAccumulator: TimerHandler, Sendable {
        let name: String
        let labels: [String: String]
        let recorder: Recorder
        init(name: String, labels: [String: String], recorder: Recorder) {
            self.name = name
            self.labels = labels
            self.recorder = recorder
        }
        func recordNanoseconds(_ duration: Int64) {
            recorder.record(Event(.metric(MetricSample(name: name, kind: .histogram, value: Double(duration) / 1e6, labels: labels))))
        }
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        let s = Series(name: Self.name(label), labels: Self.labels(dimensions), kind: .counter)
        return register(Accumulator(series: s, recorder: recorder), s)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        let s = Series(name: Self.name(label), labels: Self.labels(dimensions), kind: .counter)
        return register(Accumulator(series: s, recorder: recorder), s)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        let s = Series(name: Self.name(label), labels: Self.labels(dimensions), kind: .gauge)
        return register(Accumulator(series: s, recorder: recorder), s)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let s = Series(name: Self.name(label), labels: Self.labels(dimensions), kind: .gauge)
        return register(Accumulator(series: s, recorder: recorder, aggregate: aggregate), s)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        TimerAccumulator(name: Self.name(label), labels: Self.labels(dimensions), recorder: recorder)
    }

    public func destroyCounter(_ handler: any CounterHandler) { forget(handler) }
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { forget(handler) }
    public func destroyMeter(_ handler: any MeterHandler) { forget(handler) }
    public func destroyRecorder(_ handler: any RecorderHandler) { forget(handler) }
    public func destroyTimer(_ handler: any TimerHandler) {}

    private func forget(_ handler: AnyObject) {
        flush()
        _ = series.withLock { $0.removeValue(forKey: ObjectIdentifier(handler)) }
    }
}
