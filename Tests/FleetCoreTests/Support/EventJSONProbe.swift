import FleetCore

/// Decodes one JSON line and returns the error it was refused with, or nil
/// when it was accepted (the event-validation and JSON-decoder tests).
protocol EventJSONProbe {}

extension EventJSONProbe {
    func decodeError(_ json: String) -> EventValidationError? {
        do {
            _ = try EventJSON.decode(Array(json.utf8))
            return nil
        } catch {
            return error
        }
    }

    /// The required fields of a `step_finished` line but `total_ms`, without braces.
    var step: String {
        #""kind":"step_finished","execution_id":"e","workflow_id":"w","node_id":"n","step_number":1,"action_type":"click","success":true"#
    }
}
