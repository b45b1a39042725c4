import FleetCore
import FleetTestSupport
import Foundation
import Testing

@testable import FleetAgent

/// The built-in actions on real files.
@Suite("Agent built-in actions")
struct BuiltInActionTests {
    @Test("clean_cache keeps the newest N, deletes only entries older than older_than, reports bytes freed")
    func cleanCache() throws {
        let dir = temporaryDirectory("fleet-cache")
        let fm = FileManager.default
        let now = Date()
        // 10 files of 1,000 bytes, one a minute older than the next; a folder; a symlink out of the cache.
        for i in 0..<10 {
            let path = dir + "/shot-\(i).png"
            try Data(repeating: 7, count: 1000).write(to: URL(fileURLWithPath: path))
            try fm.setAttributes([.modificationDate: now.addingTimeInterval(Double(-600 - i * 60))], ofItemAtPath: path)
        }
        let outside = temporaryDirectory("fleet-outside")
        try Data(repeating: 1, count: 5000).write(to: URL(fileURLWithPath: outside + "/keep-me"))
        try fm.createSymbolicLink(atPath: dir + "/link", withDestinationPath: outside)
        // The link's own time (not its target's): a day old.
        var times = [timespec(tv_sec: Int(now.timeIntervalSince1970) - 86_400, tv_nsec: 0), timespec(tv_sec: Int(now.timeIntervalSince1970) - 86_400, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, dir + "/link", &times, AT_SYMLINK_NOFOLLOW) == 0)
        try fm.createDirectory(atPath: dir + "/recent", withIntermediateDirectories: false)
        try Data(repeating: 2, count: 300).write(to: URL(fileURLWithPath: dir + "/recent/a"))

        var settings = ActionSettings.CleanCache()
        settings.directory = dir
        settings.keepNewest = 3
        settings.olderThan = .seconds(810)  // shots 0–3 (10–13 min old) are younger: kept whatever their rank
        let result = try CleanCacheAction.run([:], settings: settings, now: now)
        let left = try fm.contentsOfDirectory(atPath: dir).sorted()
        // Newest three (recent/, shot-0, shot-1) kept by rank; shot-2, shot-3 are younger than 13.5 min;
        // shots 4–9 and the day-old link go.
        #expect(left == ["recent", "shot-0.png", "shot-1.png", "shot-2.png", "shot-3.png"])
        #expect(result.status == .succeeded)
        #expect(result.output.contains("deleted 7 of 12 entries"))
        // Six shots, and the link's own bytes (its target path), never what it points to.
        #expect(result.output.contains("freed \(6000 + outside.utf8.count) bytes"), "\(result.output)")
        // The symlink's target is untouched.
        #expect(fm.fileExists(atPath: outside + "/keep-me"))
        #expect(throws: ActionError.self) { try CleanCacheAction.run(["dir": .string("/")], settings: settings) }
    }

    @Test("set_flags merges typed keys into the file atomically and refuses others")
    func setFlags() throws {
        let dir = temporaryDirectory("fleet-flags")
        var settings = ActionSettings.SetFlags()
        settings.file = dir + "/flags.json"
        try Data(#"{"enable_ocr":true,"custom":"kept"}"#.utf8).write(to: URL(fileURLWithPath: settings.file))
        _ = try SetFlagsAction.run(["degraded": .bool(true), "analyze_timeout_ms": .int(8000)], settings: settings)
        let flags = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: settings.file))) as? [String: Any]
        #expect(flags?["degraded"] as? Bool == true)
        #expect(flags?["analyze_timeout_ms"] as? Int == 8000)
        #expect(flags?["enable_ocr"] as? Bool == true)
        #expect(flags?["custom"] as? String == "kept")
        #expect(throws: ActionError.self) { try SetFlagsAction.run(["reboot": .bool(true)], settings: settings) }
        #expect(throws: ActionError.self) { try SetFlagsAction.run(["degraded": .string("yes")], settings: settings) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["flags.json"])  // no temporary left behind
    }
}
