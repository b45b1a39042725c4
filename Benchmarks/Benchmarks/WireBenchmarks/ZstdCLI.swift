import BenchmarkSupport
import Foundation

/// The system `zstd` command, run on the same bytes as Fleet's wrapper so the
/// two compressed sizes can be compared.
enum ZstdCLI {
    /// Where Debian's `zstd` package installs the command.
    static let path = "/usr/bin/zstd"

    /// True when the command is installed.
    static var isAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: path)
    }

    /// `zstd -<level> -c` of `input`, fed through a temporary file (so the
    /// CLI knows the input size, as our wrapper does).
    static func compress(_ input: [UInt8], level: Int) throws -> [UInt8] {
        let file = FileManager.default.temporaryDirectory
            .appendingPathComponent("fleet-benchmark-\(UUID().uuidString).frame")
        try Data(input).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-\(level)", "-c", "-q", file.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        // Read to the end before waiting, so a full pipe cannot stall the child.
        let compressed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchmarkFailure(description: "\(path) exited with status \(process.terminationStatus)")
        }
        return [UInt8](compressed)
    }
}
