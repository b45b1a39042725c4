import CoreMetrics
import FleetCore
import Testing

@testable import FleetAgent

@Suite("swift-metrics backend")
struct FleetMetricsFactoryTests {
    @Test("counters, gauges, recorders and timers become metric events")
    func events() throws {
        let recorder = Recorder()
        let factory = FleetMetricsFactory(recorder: recorder)
        let counter = Counter(label: "ocr_calls", dimensions: [("model", "v4")], factory: factory)
        let gauge = Gauge(label: "queue_depth", factory: factory)
        let timer = CoreMetrics.Timer(label: "analyze", factory: factory)
        for _ in 0..<5 { counter.increment() }
        counter.increment(by: 10)
        gauge.record(3)
        gauge.record(7)
        timer.recordMilliseconds(250)
        factory.flush()
        factory.flush()  // nothing changed: nothing more
        counter.increment()
        factory.flush()
        let metrics = recorder.drain().events.compactMap { event -> MetricSample? in
            guard case .metric(let m) = event.payload else { return nil }
            return m
        }
        #expect(metrics.contains(MetricSample(name: "analyze", kind: .histogram, value: 250, labels: [:])))
        #expect(metrics.filter { $0.name == "ocr_calls" }.map(\.value) == [15, 1])
        #expect(metrics.first { $0.name == "ocr_calls" }?.labels == ["model": "v4"])
        #expect(metrics.filter { $0.name == "queue_depth" } == [MetricSample(name: "queue_depth", kind: .gauge, value: 7, labels: [:])])
        for m in metrics { try Event(.metric(m)).validate() }
    }
}
