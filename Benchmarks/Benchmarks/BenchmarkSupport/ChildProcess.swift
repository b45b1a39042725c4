import Foundation

/// Runs a command to its exit without blocking a thread while it runs.
public enum ChildProcess {
    /// Starts `process` (configured: executable, arguments, standard
    /// files) and waits for it to exit; returns its exit status and how long
    /// it ran, from just before it was started until it had exited.
    public static func run(_ process: Process) async throws -> (status: Int32, elapsed: Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        return (status, start.duration(to: clock.now))
    }
}
