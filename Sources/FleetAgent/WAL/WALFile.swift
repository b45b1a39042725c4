#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A WAL failure with the file and the system's reason.
public struct WALError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }

    static func system(_ what: String, _ path: String) -> WALError {
        WALError("\(what) \(path): \(String(cString: strerror(errno)))")
    }
}

/// Thin POSIX file operations the WAL needs: append, positional read,
/// fdatasync, truncate, atomic replace.
enum WALFile {
    static func open(_ path: String, create: Bool) throws(WALError) -> Int32 {
        let fd = create ? Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) : Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .system("cannot open", path) }
        return fd
    }

    static func size(_ fd: Int32) -> Int {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int(st.st_size) : 0
    }

    static func write(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws(WALError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                raw.baseAddress.map { pwrite(fd, $0 + done, raw.count - done, off_t(offset + done)) } ?? -1
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .system("cannot write", path) }
            done += n
        }
    }

    static func read(_ fd: Int32, count: Int, at offset: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress.map { pread(fd, $0 + done, count - done, off_t(offset + done)) } ?? -1
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            done += n
        }
        if done < count { buffer.removeSubrange(done...) }
        return buffer
    }

    static func sync(_ fd: Int32, path: String) throws(WALError) {
        guard fdatasync(fd) == 0 else { throw .system("cannot fdatasync", path) }
    }

    static func truncate(_ fd: Int32, to size: Int, path: String) throws(WALError) {
        guard ftruncate(fd, off_t(size)) == 0 else { throw .system("cannot truncate", path) }
    }

    static func syncDirectory(_ path: String) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// Writes a small file atomically and durably: temp file, fsync, rename, fsync the directory.
    static func replace(_ path: String, with bytes: [UInt8], directory: String) throws(WALError) {
        let temporary = path + ".tmp"
        let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .system("cannot create", temporary) }
        do throws(WALError) {
            try write(fd, bytes, at: 0, path: temporary)
            guard fsync(fd) == 0 else { throw WALError.system("cannot fsync", temporary) }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else { throw .system("cannot rename", temporary) }
        syncDirectory(directory)
    }

    static func readAll(_ path: String) -> [UInt8]? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return read(fd, count: size(fd), at: 0)
    }

    static func list(_ directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func makeDirectory(_ path: String) throws(WALError) {
        var partial = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            partial += "/" + component
            if mkdir(partial, 0o700) != 0 && errno != EEXIST { throw .system("cannot create directory", partial) }
        }
    }
}
