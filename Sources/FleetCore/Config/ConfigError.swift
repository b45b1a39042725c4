/// A configuration file that cannot be used: names the file, the key (as a
/// dotted path such as `ingest.max_compressed_bytes`) and what is wrong, in
/// one line an operator can act on. Executables exit with status 2 on it.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public let file: String
    /// The dotted key path, or nil for errors about the file as a whole.
    public let key: String?
    public let message: String

    public init(file: String, key: String?, message: String) {
        self.file = file
        self.key = key
        self.message = message
    }

    public var description: String {
        if let key { "\(file): \(key): \(message)" } else { "\(file): \(message)" }
    }
}
