import Foundation

/// Terminal output: aligned tables, and colour only when standard output is a
/// terminal (and NO_COLOR is not set).
enum Output {
    static let colour: Bool = isatty(1) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil

    enum Tone: String {
        case good = "32", warn = "33", bad = "31", dim = "2", bold = "1"
    }

    static func paint(_ text: String, _ tone: Tone) -> String {
        colour ? "\u{1B}[\(tone.rawValue)m\(text)\u{1B}[0m" : text
    }

    /// Columns padded to their widest cell (measured without colour codes).
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        guard !header.isEmpty else { return "" }
        var widths = header.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], visible(cell)) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i == cells.count - 1 ? cell : cell + String(repeating: " ", count: max(0, widths[i] - visible(cell)))
            }.joined(separator: "  ")
        }
        return ([paint(line(header), .bold)] + rows.map(line)).joined(separator: "\n")
    }

    static func visible(_ text: String) -> Int {
        var count = 0
        var escape = false
        for c in text {
            if c == "\u{1B}" { escape = true; continue }
            if escape { if c == "m" { escape = false }; continue }
            count += 1
        }
        return count
    }

    // MARK: Values from the API's JSON

    static func percent(_ value: Any?) -> String {
        guard let v = value as? Double else { return "–" }
        return String(format: "%.1f%%", v * 100)
    }

    static func milliseconds(_ value: Any?) -> String {
        guard let v = value as? Double else { return "–" }
        if v >= 60_000 { return String(format: "%.1f min", v / 60_000) }
        if v >= 1000 { return String(format: "%.2f s", v / 1000) }
        return String(format: "%.0f ms", v)
    }

    static func int(_ value: Any?) -> String {
        (value as? Int).map(String.init) ?? (value as? Double).map { String(Int($0)) } ?? "–"
    }

    static func text(_ value: Any?) -> String {
        switch value {
        case let s as String: s
        case let b as Bool: b ? "yes" : "no"
        case let i as Int: String(i)
        case let d as Double: d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(format: "%.3g", d)
        default: "–"
        }
    }

    /// "2026-11-23T10:01:02.123456Z" → "10:01:02" today, else "11-22 10:01".
    static func time(_ value: Any?) -> String {
        guard let s = value as? String, s.count >= 19 else { return "–" }
        let date = s.prefix(10)
        let clock = s.dropFirst(11).prefix(8)
        let today = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC") ?? .current, formatOptions: [.withFullDate])
        return date == today ? String(clock) : "\(date.dropFirst(5)) \(clock.prefix(5))"
    }
}
