import FleetCore
import Foundation

/// What the agent asks of the operating system. Everything platform-specific
/// sits behind this protocol, so a Windows agent is one more conforming type
/// (performance counters, GlobalMemoryStatusEx, GetDiskFreeSpaceEx, the
/// process snapshot API, GetDpiForMonitor, EmptyWorkingSet).
public protocol PlatformProbe: Sendable {
    /// Cumulative busy and total CPU time (any unit); CPU % is the ratio of two samples' deltas.
    func cpuTimes() -> (busy: UInt64, total: UInt64)?
    /// Memory in use and installed, bytes.
    func memory() -> (used: UInt64, total: UInt64)?
    /// Free bytes on the file system holding `path`.
    func diskFree(path: String) -> UInt64?
    /// Whether a process with this executable name runs.
    func processRunning(named: String) -> Bool
    /// Static facts: OS, kernel, hostname, CPU model, RAM, locale, timezone, screen where known.
    func environmentFacts() -> [String: String]
    /// Hands back to the OS the resident pages of this process's program
    /// files (code and read-only data) that no other process maps; what is
    /// still run is read in again as it runs. The bytes of such pages
    /// resident before and after, or nil where the platform cannot.
    func releaseProgramPages() -> (before: UInt64, after: UInt64)?
}

/// Linux: /proc, statvfs, uname.
public struct LinuxProbe: PlatformProbe {
    public init() {}

    public func cpuTimes() -> (busy: UInt64, total: UInt64)? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first, line.hasPrefix("cpu ")
        else { return nil }
        let values = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard values.count >= 4 else { return nil }
        let idle = values[3] + (values.count > 4 ? values[4] : 0)
        let total = values.prefix(8).reduce(0, +)
        return (total - idle, total)
    }

    public func memory() -> (used: UInt64, total: UInt64)? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        var total: UInt64?
        var available: UInt64?
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let kib = UInt64(parts[1]) else { continue }
            if parts[0] == "MemTotal:" { total = kib * 1024 }
            if parts[0] == "MemAvailable:" { available = kib * 1024 }
        }
        guard let total, let available, available <= total else { return nil }
        return (total - available, total)
    }

    public func diskFree(path: String) -> UInt64? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return nil }
        return UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
    }

    public func processRunning(named name: String) -> Bool {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return false }
        for entry in entries where entry.first?.isNumber == true {
            if let comm = try? String(contentsOfFile: "/proc/\(entry)/comm", encoding: .utf8),
                comm.trimmingCharacters(in: .whitespacesAndNewlines) == String(name.prefix(15))
            {
                return true
            }
        }
        return false
    }

    /// `madvise(MADV_PAGEOUT)` (Linux 5.4) on every read-only file mapping in
    /// /proc/self/maps. The kernel reclaims only pages no other process maps.
    public func releaseProgramPages() -> (before: UInt64, after: UInt64)? {
        let pageOut: Int32 = 21  // MADV_PAGEOUT, not in every libc's headers
        guard let before = Self.residentFileBytes(),
            let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        else { return nil }
        var released = false
        for line in maps.split(separator: "\n") {
            // "start-end perms offset dev inode   path": file mappings have a path starting with "/".
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6, fields[5].drop(while: { $0 == " " }).hasPrefix("/"), !fields[1].contains("w") else { continue }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16), end > start,
                let address = UnsafeMutableRawPointer(bitPattern: start)
            else { continue }
            if madvise(address, Int(end - start), pageOut) == 0 { released = true }
        }
        guard released, let after = Self.residentFileBytes() else { return nil }
        return (before, after)
    }

    /// RssFile of this process, bytes.
    static func residentFileBytes() -> UInt64? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("RssFile:") }),
            let kib = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap({ UInt64($0) })
        else { return nil }
        return kib * 1024
    }

    public func environmentFacts() -> [String: String] {
        var facts: [String: String] = [:]
        var name = utsname()
        if uname(&name) == 0 {
            func field<T>(_ value: T) -> String {
                withUnsafeBytes(of: value) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
            }
            facts["os"] = field(name.sysname)
            facts["kernel"] = field(name.release)
            facts["arch"] = field(name.machine)
            facts["hostname"] = field(name.nodename)
        }
        if let release = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8) {
            for line in release.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
                facts["os_version"] = String(line.dropFirst("PRETTY_NAME=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        if let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let model = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("model name") })?.split(separator: ":", maxSplits: 1).last
        {
            facts["cpu_model"] = model.trimmingCharacters(in: .whitespaces)
        }
        facts["cpu_count"] = String(ProcessInfo.processInfo.processorCount)
        facts["memory_bytes"] = String(ProcessInfo.processInfo.physicalMemory)
        let env = ProcessInfo.processInfo.environment
        facts["locale"] = env["LC_ALL"] ?? env["LANG"] ?? "C"
        if let tz = env["TZ"] {
            facts["timezone"] = tz
        } else if let tz = try? String(contentsOfFile: "/etc/timezone", encoding: .utf8) {
            facts["timezone"] = tz.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/etc/localtime"),
            let range = link.range(of: "zoneinfo/")
        {
            facts["timezone"] = String(link[range.upperBound...])
        }
        return facts.filter { !$0.value.isEmpty }
    }
}
