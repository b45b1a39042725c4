import ArgumentParser
import AsyncHTTPClient
import FleetCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// How fleetctl reaches the collector's admin API. Each setting comes from
/// its flag, else the environment, else ~/.config/fleet/fleetctl.toml:
///
///   --collector  FLEET_COLLECTOR  collector = "https://fleet.lan:7444"
///   --token      FLEET_TOKEN      token = "…"            (or the admin certificate:)
///   --cert       FLEET_CERT       cert_file = "…/admin.pem"
///   --key        FLEET_KEY        key_file = "…/admin-key.pem"
///   --ca         FLEET_CA         ca_file = "…/ca.pem"   (the fleet CA, to verify the collector)
struct ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The collector's admin API ($FLEET_COLLECTOR).", valueName: "https://host:7444"))
    var collector: String?

    @Option(name: .long, help: ArgumentHelp("A bearer token for the admin API ($FLEET_TOKEN).", valueName: "token"))
    var token: String?

    @Option(name: .long, help: ArgumentHelp("The admin client certificate ($FLEET_CERT).", valueName: "file"))
    var cert: String?

    @Option(name: .long, help: ArgumentHelp("The admin client key ($FLEET_KEY).", valueName: "file"))
    var key: String?

    @Option(name: .long, help: ArgumentHelp("The fleet CA certificate, to verify the collector ($FLEET_CA).", valueName: "file"))
    var ca: String?

    @Option(name: .long, help: ArgumentHelp("fleetctl's config file.", valueName: "file"))
    var config: String?

    /// Settings resolved in order: flags, environment, config file.
    struct Resolved {
        var collector: String
        var token: String?
        var cert: String?
        var key: String?
        var ca: String?
    }

    func resolve() throws -> Resolved {
        let env = ProcessInfo.processInfo.environment
        let file = config ?? (env["HOME"].map { $0 + "/.config/fleet/fleetctl.toml" } ?? "")
        var fromFile: [String: String] = [:]
        if FileManager.default.fileExists(atPath: file) {
            let table = try ConfigTable(contentsOf: file)
            for key in ["collector", "token", "cert_file", "key_file", "ca_file"] {
                if let value = try table.optionalString(key) { fromFile[key] = value }
            }
            try table.finish()
        } else if config != nil {
            throw ValidationError("--config: cannot read \(file)")
        }
        func pick(_ flag: String?, _ variable: String, _ key: String) -> String? {
            flag ?? env[variable].flatMap { $0.isEmpty ? nil : $0 } ?? fromFile[key]
        }
        guard let url = pick(collector, "FLEET_COLLECTOR", "collector") else {
            throw ValidationError("no collector given: use --collector https://HOST:7444, FLEET_COLLECTOR or collector = in ~/.config/fleet/fleetctl.toml")
        }
        guard url.hasPrefix("https://") else { throw ValidationError("--collector must be an https:// URL (the admin API uses TLS)") }
        let resolved = Resolved(
            collector: url.hasSuffix("/") ? String(url.dropLast()) : url, token: pick(token, "FLEET_TOKEN", "token"),
            cert: pick(cert, "FLEET_CERT", "cert_file"), key: pick(key, "FLEET_KEY", "key_file"), ca: pick(ca, "FLEET_CA", "ca_file"))
        guard resolved.token != nil || (resolved.cert != nil && resolved.key != nil) else {
            throw ValidationError("no credential: give --token (or FLEET_TOKEN), or --cert and --key of the admin certificate")
        }
        return resolved
    }
}

/// An error fleetctl reports in one line, with its exit status.
struct FleetctlError: Error, CustomStringConvertible {
    var description: String
    var exitCode: ExitCode

    static func unreachable(_ message: String) -> FleetctlError { FleetctlError(description: message, exitCode: ExitStatus.unreachable) }
    static func failed(_ message: String) -> FleetctlError { FleetctlError(description: message, exitCode: ExitStatus.failure) }
}

/// The admin API over HTTPS.
final class CollectorClient: Sendable {
    let settings: ConnectionOptions.Resolved
    let http: HTTPClient

    init(_ options: ConnectionOptions) throws {
        settings = try options.resolve()
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        do {
            if let ca = settings.ca { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca)) }
            if let cert = settings.cert, let key = settings.key {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            }
        } catch {
            throw FleetctlError.failed("cannot load the TLS files: \(error)")
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(120))
        configuration.connectionPool.retryConnectionEstablishment = false
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func shutdown() async {
        try? await http.shutdown()
    }

    /// The response body of a 2xx answer.
    func get(_ path: String) async throws -> Data {
        try await send(HTTPClientRequest(url: settings.collector + path))
    }

    func post(_ path: String, json: Any) async throws -> Data {
        var request = HTTPClientRequest(url: settings.collector + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])))
        return try await send(request)
    }

    private func send(_ request: HTTPClientRequest) async throws -> Data {
        var request = request
        if let token = settings.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .seconds(120))
        } catch {
            throw FleetctlError.unreachable("cannot reach the collector at \(settings.collector): \(error)")
        }
        let body = try await response.body.collect(upTo: 64 << 20)
        let data = Data(body.readableBytesView)
        guard (200..<300).contains(response.status.code) else {
            let message = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])
                .flatMap { ($0["error"] as? [String: Any])?["message"] as? String } ?? String(decoding: data.prefix(500), as: UTF8.self)
            throw FleetctlError.failed("the collector answered \(response.status.code): \(message)")
        }
        return data
    }
}

/// Runs a command body against the collector, mapping failures to fleetctl's exit codes.
func withCollector(_ options: ConnectionOptions, _ body: (CollectorClient) async throws -> Void) async throws {
    let client: CollectorClient
    do {
        client = try CollectorClient(options)
    } catch let error as FleetctlError {
        printError(error.description)
        throw error.exitCode
    } catch let error as ValidationError {
        printError(error.message)
        throw ExitStatus.usage
    } catch let error as ConfigError {
        printError("\(error)")
        throw ExitStatus.usage
    }
    do {
        try await body(client)
        await client.shutdown()
    } catch let error as FleetctlError {
        await client.shutdown()
        printError(error.description)
        throw error.exitCode
    } catch {
        await client.shutdown()
        throw error
    }
}

/// Parses JSON into a dictionary; the admin API's bodies are objects.
func jsonObject(_ data: Data) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw FleetctlError.failed("the collector sent something other than a JSON object")
    }
    return object
}

/// Prints JSON as the API sent it, pretty and with sorted keys (`--json`).
func printJSON(_ data: Data) throws {
    let object = try JSONSerialization.jsonObject(with: data)
    let pretty = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: pretty, as: UTF8.self))
}
