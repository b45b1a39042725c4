@testable import FleetCore
import FleetTestSupport
import Foundation
import Testing

/// `EventJSON.decode`'s own parser and decoder: strict JSON, the same events
/// and the same field-naming errors as Foundation's JSONDecoder.
@Suite("Event JSON decoder")
struct EventJSONDecoderTests: EventJSONProbe {
    @Test("escapes, surrogate pairs and raw UTF-8 decode to the same text")
    func strings() throws {
        let line = #"{\#(step),"total_ms":1,"error":"a\"b\\c\/d\b\f\n\r\t \u00e9 \u65e5 \ud83e\udd16 ß 🤖"}"#
        guard case .stepFinished(let e) = try EventJSON.decode(Array(line.utf8)).payload else {
            Issue.record("wrong kind")
            return
        }
        #expect(e.error == "a\"b\\c/d\u{08}\u{0C}\n\r\t é 日 🤖 ß 🤖")
    }

    @Test("malformed JSON is refused with where it stops", arguments: [
        "", "{", "{}}", #"{"kind":"metric",}"#, #"{"kind" "metric"}"#, #"{"kind":'metric'}"#, #"{"step_number":01}"#,
        #"{"a":1.}"#, #"{"a":-}"#, #"{"a":1e}"#, #"{"a":tru}"#, #"{"a":"\x"}"#, #"{"a":"\u12"}"#, "{\"a\":\"tab\tinside\"}", #"{"a":"\ud800"}"#,
        #"{"a":"\udc00"}"#, #"{"a":[1,2,]}"#, #"{"a":"unterminated}"#, "{} {}", "nul",
    ])
    func malformed(line: String) {
        let error = decodeError(line)
        #expect(error?.field == "(event)", "\(line)")
        #expect(error?.description.hasPrefix("(event): not valid JSON: ") == true, "\(error?.description ?? "accepted")")
    }

    @Test("invalid UTF-8 and deep nesting are refused, not crashed on")
    func hostileBytes() throws {
        var bytes = Array("{\"kind\":\"metric\",\"name\":\"".utf8)
        bytes += [0xC3, 0x28]
        bytes += Array("\"}".utf8)
        #expect(throws: EventValidationError.self) { try EventJSON.decode(bytes) }
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(decodeError(deep)?.description.contains("nested deeper than 64 levels") == true)
    }

    @Test("numbers: integral values fit integer fields, fractions and overflow name the field")
    func numbers() throws {
        guard case .stepFinished(let e) = try EventJSON.decode(Array(#"{\#(step.replacingOccurrences(of: "\"step_number\":1", with: "\"step_number\":2.0")),"total_ms":1e3}"#.utf8)).payload
        else {
            Issue.record("wrong kind")
            return
        }
        #expect(e.stepNumber == 2 && e.totalMs == 1000)
        #expect(decodeError(#"{\#(step.replacingOccurrences(of: "\"step_number\":1", with: "\"step_number\":2.5")),"total_ms":1}"#)?.field == "step_number")
        #expect(decodeError(#"{\#(step),"total_ms":1e999}"#)?.field == "total_ms")
        #expect(
            decodeError(#"{"kind":"resource_sample","cpu_percent":1,"memory_used_bytes":-1,"memory_total_bytes":2,"disk_free_bytes":3}"#)?.field
                == "memory_used_bytes")
        #expect(decodeError(#"{\#(step),"total_ms":"5"}"#)?.description == "total_ms: expected a number")
        #expect(decodeError(#"{\#(step),"total_ms":null}"#)?.description == "total_ms: null where a number is required")
        #expect(decodeError(#"{"kind":"error","error_type":"t","message":"m","component":"c","severity":"low","context":{"k":5}}"#)?.field == "context.k")
        #expect(decodeError(#"{"kind":"resource_sample","cpu_percent":1,"memory_used_bytes":1,"memory_total_bytes":2,"disk_free_bytes":3,"gpus":[{"index":"x"}]}"#)?.field.hasPrefix("gpus[0]") == true)
    }

    @Test("optional fields: missing or null is absent, a wrong type names the field, as with JSONDecoder")
    func optionalFields() throws {
        let lines = [
            #"{\#(step),"total_ms":1,"ocr_ms":null,"error":null,"cache_hit":null,"finished_at":null}"#,
            #"{\#(step),"total_ms":1,"ui_ms":2.5,"error":"e","degraded":true,"finished_at":"2026-03-02T08:00:00Z"}"#,
            #"{\#(step),"total_ms":1,"analyze_ms":"slow"}"#,
            #"{\#(step),"total_ms":1,"cache_hit":1}"#,
            #"{\#(step),"total_ms":1,"finished_at":5}"#,
            #"{"kind":"resource_sample","cpu_percent":1,"memory_used_bytes":1,"memory_total_bytes":2,"disk_free_bytes":3,"cache_bytes":null,"executor_alive":false}"#,
            #"{"kind":"resource_sample","cpu_percent":1,"memory_used_bytes":1,"memory_total_bytes":2,"disk_free_bytes":3,"cache_bytes":-4}"#,
        ]
        for line in lines {
            let bytes = Array(line.utf8)
            let (expected, expectedOutcome) = foundationDecode(bytes)
            let ours: Event?
            let outcome: String
            do {
                ours = try EventJSON.decode(bytes)
                outcome = "accepted"
            } catch {
                ours = nil
                outcome = error.field
            }
            // Foundation reports a negative unsigned number without its field; ours names it.
            #expect(outcome == (line.contains(#""cache_bytes":-4"#) ? "cache_bytes" : expectedOutcome), "\(line)")
            if let expected, let ours {
                // The same event but the timestamp of a line without `ts` (now, read twice).
                var copy = ours
                copy.timestamp = expected.timestamp
                if case .stepFinished(var step) = copy.payload, case .stepFinished(let theirs) = expected.payload, step.finishedAt != theirs.finishedAt,
                    !line.contains("finished_at\":\"")
                {
                    step.finishedAt = theirs.finishedAt
                    step.startedAt = theirs.startedAt
                    copy.payload = .stepFinished(step)
                }
                #expect(copy == expected, "\(line)")
            }
        }
    }

    @Test("a repeated key: the last one counts")
    func repeatedKey() throws {
        guard case .metric(let m) = try EventJSON.decode(Array(#"{"kind":"metric","name":"a","metric_kind":"counter","value":1,"name":"b"}"#.utf8)).payload else {
            Issue.record("wrong kind")
            return
        }
        #expect(m.name == "b")
    }

    /// Foundation's decoder with the same validation, as EventJSON.decode did before it had its own.
    func foundationDecode(_ bytes: [UInt8]) -> (Event?, String) {
        do {
            let event = try JSONDecoder().decode(Event.self, from: Data(bytes))
            try event.validate()
            return (event, "accepted")
        } catch let error as EventValidationError {
            return (nil, error.field)
        } catch let error as DecodingError {
            return (nil, EventValidationError(decodingError: error).field)
        } catch {
            return (nil, "\(error)")
        }
    }

    @Test("random valid and mutated lines: the same event or the same refusal as JSONDecoder")
    func differential() throws {
        var gen = EventGenerator(seed: 0xD1FF)
        var rng = SplitMix64(seed: 0xD1FF_0001)
        let alphabet = Array(#"{}[]",:\-+.0123456789eEtrufalsn "#.utf8) + [0x00, 0x1F, 0x7F, 0xC3, 0xFF, UInt8(ascii: "u")]
        var agreed = 0
        var stricter = 0
        for round in 0..<6_000 {
            let event = gen.event()
            var bytes = EventJSON.encode(event)
            if round % 3 != 0 {
                for _ in 0...(rng.next() % 3) {
                    let at = Int(rng.next() % UInt64(bytes.count))
                    switch rng.next() % 3 {
                    case 0: bytes[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                    case 1: bytes.remove(at: at)
                    default: bytes.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
                    }
                    if bytes.isEmpty { break }
                }
            }
            let ours: Event?
            var reason = "accepted"
            var field = ""
            do {
                ours = try EventJSON.decode(bytes)
            } catch {
                ours = nil
                reason = error.description
                field = error.field
            }
            let (theirs, theirReason) = foundationDecode(bytes)
            // A missing `ts` is "now" on both sides: compare without it.
            var oursNoTS = ours
            var theirsNoTS = theirs
            oursNoTS?.timestamp = .init(microsecondsSinceEpoch: 0)
            theirsNoTS?.timestamp = .init(microsecondsSinceEpoch: 0)
            if case .stepFinished = ours?.payload, !String(decoding: bytes, as: UTF8.self).contains("\"ts\"") { continue }
            if ours != nil || theirs == nil || !reason.hasPrefix("(event): not valid JSON") {
                #expect(oursNoTS == theirsNoTS, "\(reason) | \(theirReason.prefix(300)) | \(String(decoding: bytes, as: UTF8.self))")
            } else {
                // Refused as not JSON where JSONDecoder took it: only when the fault is in the value of
                // a key no field reads, which JSONDecoder skips unchecked.
                stricter += 1
            }
            if oursNoTS == theirsNoTS { agreed += 1 }
            // Both refuse a line that is JSON: for the same field.
            if ours == nil, theirs == nil, !reason.hasPrefix("(event): not valid JSON"), theirReason != "(event)" {
                #expect(field == theirReason, "\(reason) | \(String(decoding: bytes, as: UTF8.self))")
            }
            if round % 3 == 0 { #expect(ours == event) }
        }
        #expect(agreed > 5_000 && stricter < 100, "\(agreed) agreed, \(stricter) refused as not JSON where JSONDecoder accepted")
    }

    @Test("the step_finished fast path: taken for every well-formed step, and the Codable path's event whenever it answers")
    func stepFastPath() throws {
        var gen = EventGenerator(seed: 0x57E9)
        var rng = SplitMix64(seed: 0x57E9_0001)
        let alphabet = Array(#"{}[]",:\-+.0123456789eEtrufalsn "#.utf8)
        var taken = 0
        var answered = 0
        var stepAside = 0
        while taken < 1_000 {
            let event = gen.event()
            guard case .stepFinished = event.payload else { continue }
            let bytes = EventJSON.encode(event)
            guard case .object(let members) = try JSONParser.parse(bytes) else { throw EventValidationError.invalid("(event)", "not an object") }
            #expect(EventJSON.stepFinished(members) == event)
            taken += 1
            // Mutated: one byte changed, removed or added; whatever still parses as an object.
            var mutated = bytes
            let at = Int(rng.next() % UInt64(mutated.count))
            switch rng.next() % 3 {
            case 0: mutated[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
            case 1: mutated.remove(at: at)
            default: mutated.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
            }
            guard case .object(let changed)? = try? JSONParser.parse(mutated) else { continue }
            let codable = try? Event(from: JSONValueDecoder(value: .object(changed), codingPath: []))
            if let fast = EventJSON.stepFinished(changed) {
                answered += 1
                var fastSameTime = fast
                if let codable, !String(decoding: mutated, as: UTF8.self).contains("\"ts\"") { fastSameTime.timestamp = codable.timestamp }
                #expect(fastSameTime == codable, "\(String(decoding: mutated, as: UTF8.self))")
            } else {
                stepAside += 1
            }
        }
        #expect(answered > 100 && stepAside > 100, "\(answered) mutated lines answered by the fast path, \(stepAside) left to the Codable path")
    }
}
