import FleetCore
import FleetPKI
import Hummingbird
import Logging
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `POST /v1/batches`: an agent's zstd-compressed batch frame (docs/PROTOCOL.md).
///
/// 200 with the acknowledgement (and any commands due for the agent) once
/// the batch is durably committed;
/// 400 malformed frame (with the reason); 403 not an agent certificate, or
/// a batch for another agent; 413 over a size cap; 415 not zstd; 429 over the
/// agent's rate; 503 queue full or shutting down (both with Retry-After).
struct IngestController {
    let pipeline: IngestPipeline
    let limits: CollectorConfiguration.Ingest
    let rateLimiter: AgentRateLimiter
    let commands: CommandDelivery
    let logger: Logger

    /// The JSON body of a 200 response.
    struct Acknowledgement: Encodable {
        var agentID: String
        var epoch: String
        var firstSeq: UInt64
        var lastSeq: UInt64
        var accepted: Int
        var duplicates: Int
        /// Every sequence from first_seq through this one is committed: the agent may delete them.
        var ackedThrough: UInt64
        var highestSeq: UInt64
        /// Commands for this agent (see CommandDelivery): at least once; the agent runs each id at most once.
        var commands: [FleetCommand]

        enum CodingKeys: String, CodingKey {
            case agentID = "agent_id", epoch, firstSeq = "first_seq", lastSeq = "last_seq", accepted, duplicates
            case ackedThrough = "acked_through", highestSeq = "highest_seq", commands
        }
    }

    func addRoutes(to router: Router<CollectorRequestContext>) {
        router.post("/v1/batches") { request, context in
            try await self.receive(request, context: context)
        }
    }

    func receive(_ request: Request, context: CollectorRequestContext) async throws -> Response {
        guard case .agent(let agentID) = await context.peerIdentity() else {
            throw HTTPError(.forbidden, message: "the client certificate is not a Fleet agent certificate")
        }
        guard let encoding = request.headers[.contentEncoding], encoding.lowercased() == "zstd" else {
            throw HTTPError(.unsupportedMediaType, message: "batches must be sent with Content-Encoding: zstd")
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limits.maxCompressedBytes {
            throw HTTPError(.contentTooLarge, message: "body of \(length) bytes exceeds the limit of \(limits.maxCompressedBytes)")
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limits.maxCompressedBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw HTTPError(.contentTooLarge, message: "body exceeds the limit of \(limits.maxCompressedBytes) bytes")
        }
        let batch: Batch
        do {
            batch = try BatchFrame.decodeCompressed(
                body.readableBytesView,
                limits: BatchLimits(maxRecords: limits.maxRecordsPerBatch, maxDecompressedBytes: limits.maxDecompressedBytes))
        } catch {
            if error.isSizeLimit { throw HTTPError(.contentTooLarge, message: error.description) }
            logger.notice("malformed batch", metadata: ["agent": "\(agentID)", "error": "\(error)"])
            throw HTTPError(.badRequest, message: "malformed batch: \(error)")
        }
        guard batch.agentID == agentID else {
            throw HTTPError(.forbidden, message: "batch is for agent \"\(batch.agentID)\" but the certificate names \"\(agentID)\"")
        }
        if let wait = rateLimiter.admit(agent: agentID, events: batch.records.count) {
            throw HTTPError(.tooManyRequests, headers: retryAfter(wait), message: "agent \(agentID) is over its event rate")
        }
        switch await pipeline.submit(ReceivedBatch(batch: batch)) {
        case .committed(let outcome):
            let ack = Acknowledgement(
                agentID: agentID, epoch: batch.epoch.description, firstSeq: batch.firstSequence ?? 0,
                lastSeq: batch.lastSequence ?? 0, accepted: outcome.accepted, duplicates: outcome.duplicates,
                ackedThrough: outcome.acknowledgedThrough, highestSeq: outcome.highestSequence,
                commands: (try? await commands.take(for: agentID)) ?? [])
            return try JSONResponse.make(ack)
        case .overloaded:
            throw HTTPError(.serviceUnavailable, headers: retryAfter(limits.retryAfter), message: "ingest queue is full")
        case .shuttingDown:
            throw HTTPError(.serviceUnavailable, headers: retryAfter(limits.retryAfter), message: "collector is shutting down")
        case .failed(let reason):
            throw HTTPError(.internalServerError, message: "batch not stored: \(reason)")
        }
    }

    func retryAfter(_ wait: Duration) -> HTTPFields {
        let seconds = max(1, wait.components.seconds + (wait.components.attoseconds > 0 ? 1 : 0))
        return [.retryAfter: String(seconds)]
    }
}

/// JSON responses with sorted keys, so output is stable for tests and diffs.
enum JSONResponse {
    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
