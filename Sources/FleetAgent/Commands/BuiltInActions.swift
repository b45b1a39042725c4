import FleetCore
import Foundation

/// Why an action did not run: the agent's configuration does not allow it
/// (refused), or it ran and failed.
struct ActionError: Error, CustomStringConvertible {
    var status: CommandStatus
    var description: String

    static func refused(_ why: String) -> ActionError { ActionError(status: .refused, description: why) }
    static func failed(_ why: String) -> ActionError { ActionError(status: .failed, description: why) }
}

/// What an action reports back.
struct ActionOutput {
    var output: String
    var exitCode: Int? = nil
    var status: CommandStatus = .succeeded
    var reason: String? = nil
}

/// `set_flags`: merges typed, allow-listed keys into the executor's flags
/// file (a JSON object), written to a temporary file, synced and renamed
/// over the old one, so the executor reads either the old or the new file.
enum SetFlagsAction {
    static func run(_ args: [String: CommandValue], settings: ActionSettings.SetFlags) throws(ActionError) -> ActionOutput {
        guard !args.isEmpty else { throw .refused("set_flags needs at least one flag") }
        for (key, value) in args.sorted(by: { $0.key < $1.key }) {
            guard let type = settings.keys[key] else {
                throw .refused("flag \"\(key)\" is not allowed here (actions.set_flags.keys: \(settings.keys.keys.sorted().joined(separator: ", ")))")
            }
            guard type.accepts(value) else { throw .refused("flag \"\(key)\" must be a \(type.rawValue), got \(value.typeName)") }
        }
        var flags: [String: Any] = [:]
        if let data = FileManager.default.contents(atPath: settings.file),
            let existing = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        {
            flags = existing
        }
        for (key, value) in args {
            switch value {
            case .bool(let b): flags[key] = b
            case .int(let i): flags[key] = i
            case .double(let d): flags[key] = d
            case .string(let s): flags[key] = s
            }
        }
        let data: Data
        do {
            data = try JSONSerialization.data(withJSONObject: flags, options: [.sortedKeys])
        } catch {
            throw .failed("cannot encode the flags: \(error)")
        }
        do {
            try AtomicFile.write(data, to: settings.file)
        } catch {
            throw .failed("cannot write \(settings.file): \(error)")
        }
        return ActionOutput(output: String(decoding: data, as: UTF8.self))
    }
}

/// Write-then-rename, with the data and the directory synced.
enum AtomicFile {
    static func write(_ data: Data, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory.isEmpty ? "." : directory, withIntermediateDirectories: true)
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw WALError("cannot create \(temporary): errno \(errno)") }
        var ok = data.withUnsafeBytes { raw -> Bool in
            guard let base = raw.baseAddress else { return true }  // nothing to write
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(fd, base + offset, raw.count - offset)
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw WALError("cannot write \(path): errno \(errno)")
        }
        let dirfd = open(directory.isEmpty ? "." : directory, O_RDONLY)
        if dirfd >= 0 {
            fsync(dirfd)
            close(dirfd)
        }
    }
}

/// `clean_cache`: in the configured folder, keeps the newest `keep_newest`
/// entries and deletes the others older than `older_than`. Symbolic links are
/// removed, never followed.
enum CleanCacheAction {
    static func run(_ args: [String: CommandValue], settings: ActionSettings.CleanCache, now: Date = Date()) throws(ActionError) -> ActionOutput {
        guard args.isEmpty else { throw .refused("clean_cache takes no arguments (its folder and limits come from agent.toml)") }
        guard !settings.directory.isEmpty else { throw .refused("actions.clean_cache.dir (or sampler.cache_dir) is not set") }
        let fm = FileManager.default
        let names: [String]
        do {
            names = try fm.contentsOfDirectory(atPath: settings.directory)
        } catch {
            throw .failed("cannot list \(settings.directory): \(error.localizedDescription)")
        }
        var entries: [(path: String, modified: Date)] = []
        for name in names {
            let path = settings.directory + "/" + name
            let attributes = try? fm.attributesOfItem(atPath: path)
            entries.append((path, (attributes?[.modificationDate] as? Date) ?? .distantPast))
        }
        entries.sort { $0.modified > $1.modified }
        let cutoff = now.addingTimeInterval(-settings.olderThan.seconds)
        var freed: UInt64 = 0
        var deleted = 0
        var failures: [String] = []
        for entry in entries.dropFirst(settings.keepNewest) where entry.modified < cutoff {
            let size = DiskUsage.bytes(entry.path)
            do {
                try fm.removeItem(atPath: entry.path)
                freed += size
                deleted += 1
            } catch {
                failures.append((entry.path as NSString).lastPathComponent)
            }
        }
        var text = "deleted \(deleted) of \(entries.count) entries in \(settings.directory), freed \(freed) bytes; kept the newest \(settings.keepNewest) and anything newer than \(ConfigValues.format(settings.olderThan))"
        if !failures.isEmpty { text += "; could not delete: " + failures.prefix(20).joined(separator: ", ") }
        return ActionOutput(output: text, status: failures.isEmpty ? .succeeded : .failed, reason: failures.isEmpty ? nil : "\(failures.count) entries could not be deleted")
    }
}

/// Sizes of files and folders without following symbolic links.
enum DiskUsage {
    static func bytes(_ path: String) -> UInt64 {
        var st = stat()
        guard lstat(path, &st) == 0 else { return 0 }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            let children = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            return children.reduce(UInt64(0)) { $0 + bytes(path + "/" + $1) }
        }
        return UInt64(max(0, st.st_size))
    }
}
