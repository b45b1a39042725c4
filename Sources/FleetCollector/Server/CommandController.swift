import FleetCore
import FleetPKI
import Hummingbird
import ServiceLifecycle

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Command delivery to agents, on the mutual-TLS ingest listener:
/// `GET /v1/commands?wait=SECONDS` answers at once when commands are due for
/// the certificate's agent, otherwise as soon as one is queued, or with an
/// empty list after `wait` (at most 60 s). The same commands also ride on
/// every `/v1/batches` acknowledgement.
struct CommandDelivery {
    let store: FleetStore
    let hub: CommandHub
    let redeliverAfter: Duration

    /// Commands due for `agent` now (marks them delivered).
    func take(for agent: String) async throws -> [FleetCommand] {
        guard await hub.mayHaveCommands(agent) else { return [] }
        let commands = try await store.takeCommands(agent: agent, now: .now(), redeliverAfter: redeliverAfter)
        await hub.delivered(agent)
        return commands
    }

    func addRoutes(to router: Router<CollectorRequestContext>) {
        router.get("/v1/commands") { request, context in
            guard case .agent(let agent) = await context.peerIdentity() else {
                throw HTTPError(.forbidden, message: "the client certificate is not a Fleet agent certificate")
            }
            var wait = 0.0
            if let text = request.uri.queryParameters.get("wait") {
                guard let seconds = Double(text), seconds.isFinite, seconds >= 0 else {
                    throw HTTPError(.badRequest, message: "wait: expected seconds, e.g. wait=30")
                }
                wait = min(seconds, 60)
            }
            var commands = try await take(for: agent)
            if commands.isEmpty, wait > 0 {
                // A graceful shutdown (SIGTERM) ends the wait: the server would otherwise hold the
                // process until the longest long-poll ran out (up to 60 s); the agent polls again.
                let timeout = Duration.milliseconds(Int64(wait * 1000))
                await cancelWhenGracefulShutdown { await hub.wait(for: agent, timeout: timeout) }
                commands = try await take(for: agent)
            }
            return try JSONResponse.make(FleetCore.CommandDelivery(commands: commands))
        }
    }
}
