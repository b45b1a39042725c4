import FleetCore
import Testing

@Suite("Environment hash")
struct EnvironmentHashTests {
    /// The test vector in docs/PROTOCOL.md, "Environment hash".
    static let vectorFacts: [String: String] = [
        "OS": " Linux ",
        "os_version": "Debian  12\t(bookworm)",
        "hostname": "RPA-PC-017",
        "Screen Resolution": "1920x1080",
        "dpi": "96",
        "locale": "en_US.UTF-8",
        "executor_version": "2.4.1",
        "ocr_model": "PaddleOCR v4",
        "uptime": "123456",
        "memory_free_bytes": "8123456789",
        "volatile_session": "abc",
        "empty": "   ",
    ]

    static let vectorCanonical = """
        fleet-env-v1
        dpi=96
        executor_version=2.4.1
        hostname=rpa-pc-017
        locale=en_us.utf-8
        ocr_model=PaddleOCR v4
        os=linux
        os_version=Debian 12 (bookworm)
        screen_resolution=1920x1080

        """

    static let vectorHash = "a8775b242dbee389"

    @Test("the documented vector")
    func vector() {
        #expect(EnvironmentHash.canonicalText(Self.vectorFacts) == Self.vectorCanonical)
        #expect(EnvironmentHash(facts: Self.vectorFacts).hex == Self.vectorHash)
    }

    @Test("volatile facts, whitespace and key spelling do not change the hash")
    func stable() {
        let a = EnvironmentHash(facts: ["os": "Linux", "dpi": "96", "uptime": "1"])
        let b = EnvironmentHash(facts: ["OS ": " linux", "dpi": "96 ", "uptime": "99999", "disk_free_bytes": "5"])
        #expect(a == b)
        #expect(a.hex.count == 16)
        #expect(a != EnvironmentHash(facts: ["os": "Linux", "dpi": "120"]))
        // Case matters outside the case-insensitive keys.
        #expect(EnvironmentHash(facts: ["executor_version": "A"]) != EnvironmentHash(facts: ["executor_version": "a"]))
    }

    @Test("colliding keys do not depend on order")
    func collisions() {
        let x = EnvironmentHash.canonicalFacts(["screen-resolution": "1920x1080", "screen resolution": "1280x720"])
        #expect(x == ["screen_resolution": "1920x1080"])
    }
}
