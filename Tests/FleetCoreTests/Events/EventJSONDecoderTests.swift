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

    /// One to three bytes changed to one of `alphabet`, removed or added.
    static func mutate(_ bytes: inout [UInt8], rng: inout SplitMix64, alphabet: [UInt8]) {
        for _ in 0...(rng.next() % 3) {
            if bytes.isEmpty { return }
            let at = Int(rng.next() % UInt64(bytes.count))
            switch rng.next() % 3 {
            case 0: bytes[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
            case 1: bytes.remove(at: at)
            default: bytes.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
            }
        }
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
            if round % 3 != 0 { Self.mutate(&bytes, rng: &rng, alphabet: alphabet) }
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

    @Test("the one-pass step_finished path: taken for every well-formed step, and the general path's event whenever it answers")
    func stepFastPath() throws {
        var gen = EventGenerator(seed: 0x57E9)
        var rng = SplitMix64(seed: 0x57E9_0001)
        let alphabet = Array(#"{}[]",:\-+.0123456789eEtrufalsn "#.utf8)
        func general(_ bytes: [UInt8]) -> Event? {
            (try? JSONParser.parse(bytes)).flatMap { try? Event(from: JSONValueDecoder(value: $0, codingPath: [])) }
        }
        var taken = 0
        var answered = 0
        var stepAside = 0
        while taken < 2_000 {
            let event = gen.event()
            guard case .stepFinished = event.payload else { continue }
            let bytes = EventJSON.encode(event)
            let fast = bytes.withUnsafeBufferPointer { JSONParser.stepFinished($0) }
            // Strings with escapes or bytes ≥ 0x80 are read by the general parser's own code, in this path too.
            #expect(fast == event, "\(String(decoding: bytes, as: UTF8.self))")
            taken += 1
            // Mutated: one to three bytes changed, removed or added.
            var mutated = bytes
            Self.mutate(&mutated, rng: &rng, alphabet: alphabet)
            if let fast = mutated.withUnsafeBufferPointer({ JSONParser.stepFinished($0) }) {
                answered += 1
                let theirs = general(mutated)
                // Without `ts` the time is now, read on each path: compare the rest.
                let text = String(decoding: mutated, as: UTF8.self)
                var sameTime = fast
                if let theirs, !text.contains("\"ts\"") {
                    sameTime.timestamp = theirs.timestamp
                    if case .stepFinished(var step) = sameTime.payload, case .stepFinished(let other) = theirs.payload, !text.contains("\"finished_at\"") {
                        step.finishedAt = other.finishedAt
                        if !text.contains("\"started_at\"") { step.startedAt = other.startedAt }
                        sameTime.payload = .stepFinished(step)
                    }
                }
                #expect(sameTime == theirs, "\(text)")
            } else {
                stepAside += 1
            }
        }
        #expect(answered > 100 && stepAside > 300, "\(answered) mutated lines answered by the one-pass path, \(stepAside) left to the general one")
    }

    @Test("numbers read in place: the same Double as Double(String), integers as Int(String)")
    func fastNumbers() throws {
        var rng = SplitMix64(seed: 0xD0B1E)
        var literals = ["0", "-0", "0.0", "-0.0", "1", "0.1", "0.2", "0.3", "120.5", "30.25", "9007199254740993", "123456789012345.6",
            "999999999999999", "0.000000000000000000001", "1.7976931348623157", "2.2250738585072014", "4.9406564584124654", "1e3",
            "1.5E-7", "-12.000", "100000000000000000000000"]
        for _ in 0..<20_000 {
            let digits = Int(rng.next() % 17) + 1
            var text = rng.next() % 4 == 0 ? "-" : ""
            let point = Int(rng.next() % UInt64(digits + 1))
            for d in 0..<digits {
                if d == point && d > 0 { text += "." }
                text += String(rng.next() % 10)
            }
            literals.append(text)
        }
        for literal in literals {
            let bytes = Array(literal.utf8)
            guard (try? JSONParser.parse(bytes)) != nil else { continue }  // leading zeros: not JSON
            let ours = bytes.withUnsafeBufferPointer { JSONParser.fastDouble($0) }
            if let ours { #expect(ours.bitPattern == Double(literal)?.bitPattern, "\(literal)") }
        }
        // Through the step path: step_number as an integer, total_ms as a double.
        let line = #"{"kind":"step_finished","execution_id":"e","workflow_id":"w","node_id":"n","step_number":2.0,"action_type":"a","success":true,"total_ms":1e2}"#
        guard case .stepFinished(let step) = try EventJSON.decode(Array(line.utf8)).payload else {
            Issue.record("wrong kind")
            return
        }
        #expect(step.stepNumber == 2 && step.totalMs == 100)
    }
}
