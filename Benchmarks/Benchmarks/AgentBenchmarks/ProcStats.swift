import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What `/proc/PID/status` and `/proc/PID/stat` tell of a process.
enum ProcStats {
    /// Resident memory of a process, in KiB, from `/proc/PID/status`.
    struct Memory {
        /// VmRSS: resident now.
        var rss: Int
        /// VmHWM: the peak of VmRSS since the process started.
        var peak: Int
        /// RssAnon: heap, stacks and other private memory.
        var anonymous: Int
        /// RssFile: mapped files, mostly the binary's and libraries' code.
        var file: Int
    }

    static func memory(_ pid: Int32) -> Memory? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        var values: [Substring: Int] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count >= 2 { values[fields[0]] = Int(fields[1]) }
        }
        guard let rss = values["VmRSS:"], let peak = values["VmHWM:"] else { return nil }
        return Memory(rss: rss, peak: peak, anonymous: values["RssAnon:"] ?? 0, file: values["RssFile:"] ?? 0)
    }

    /// User plus system CPU time so far (utime + stime), in seconds.
    static func cpuSeconds(_ pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = text.lastIndex(of: ")")
        else { return nil }
        // After "pid (comm)": field 3 (state) onward; utime and stime are fields 14 and 15.
        let fields = text[text.index(after: end)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
