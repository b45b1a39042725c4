import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The headline figures of one `swift package benchmark` run as a plain
/// table on stdout.
///
/// BenchmarkTool runs every benchmark in a process of its own, so the
/// figures are gathered in a file (`last-run.json` in the target's
/// directory under `.build/`, see `BenchmarkDirectory`), tagged with the
/// BenchmarkTool's process id (the parent of each benchmark process): each
/// benchmark adds its lines when it ends and prints the table so far, so
/// the last one prints the whole run.
public struct RunReport: Codable {
    /// One figure: which benchmark, what, the value, and whether it meets its goal.
    public struct Line: Codable, Sendable {
        public var benchmark: String
        public var figure: String
        public var value: String
        /// The goal and "met"/"NOT met", or empty.
        public var goal: String

        public init(benchmark: String, figure: String, value: String, goal: String) {
            self.benchmark = benchmark
            self.figure = figure
            self.value = value
            self.goal = goal
        }
    }

    /// The BenchmarkTool process the lines belong to.
    var run: Int32
    /// The table's first line, e.g. "Fleet collector benchmarks, this run so far (medians)".
    var title: String
    var lines: [Line]

    /// Adds `lines` to this run's report kept in `directory`, replacing what
    /// their benchmarks reported before, and prints the report under `title`.
    public static func add(_ lines: [Line], directory: String, title: String) {
        let path = directory + "/last-run.json"
        let run = getppid()
        var report = RunReport(run: run, title: title, lines: [])
        if let data = FileManager.default.contents(atPath: path),
            let saved = try? JSONDecoder().decode(RunReport.self, from: data), saved.run == run
        {
            report = saved
        }
        let replaced = Set(lines.map(\.benchmark))
        report.lines.removeAll { replaced.contains($0.benchmark) }
        report.lines += lines
        // Grouped by benchmark, in the order the lines came within each.
        report.lines = report.lines.enumerated()
            .sorted { ($0.element.benchmark, $0.offset) < ($1.element.benchmark, $1.offset) }
            .map(\.element)
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let data = try? JSONEncoder().encode(report) {
            try? data.write(to: URL(fileURLWithPath: path), options: .atomic)
        }
        FileHandle.standardOutput.write(Data(("\n" + report.table + "\n\n").utf8))
    }

    /// The lines as aligned columns, each benchmark's name once.
    var table: String {
        let figureWidth = max(6, lines.map(\.figure.count).max() ?? 0)
        let valueWidth = max(5, lines.map(\.value.count).max() ?? 0)
        var out = [title]
        var previous: String?
        for line in lines {
            if line.benchmark != previous {
                out.append(line.benchmark)
                previous = line.benchmark
            }
            var text = "  " + pad(line.figure, figureWidth) + "  " + pad(line.value, valueWidth, right: true)
            if !line.goal.isEmpty { text += "   goal " + line.goal }
            out.append(text)
        }
        return out.joined(separator: "\n")
    }

    /// `text` padded with spaces to `width` characters, on the left when `right`.
    private func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return right ? fill + text : text + fill
    }
}

/// Number formatting for the report.
public enum Figures {
    /// `value` rounded, with thousands separated by commas: 1234567.8 → "1,234,568".
    public static func grouped(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        let digits = String(Int(value.rounded()).magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return (value < -0.5 ? "-" : "") + out
    }

    /// `value` with `decimals` digits after the point.
    public static func fixed(_ value: Double, _ decimals: Int) -> String {
        String(format: "%.\(decimals)f", value)
    }

    /// The median of `values` (the mean of the middle two for an even count).
    public static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// "met" or "NOT met".
    public static func verdict(_ met: Bool) -> String { met ? "met" : "NOT met" }
}
