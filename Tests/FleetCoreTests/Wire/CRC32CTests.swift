import FleetTestSupport
import FleetCore
import Testing

@Suite("CRC32C")
struct CRC32CTests {
    @Test("matches the standard check values")
    func checkValues() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    }

    @Test("slicing-by-8 agrees with bytewise over every split")
    func incremental() {
        var rng = SplitMix64(seed: 1)
        let bytes = (0..<1000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let whole = CRC32C.checksum(bytes)
        for split in stride(from: 0, to: 1000, by: 37) {
            let first = CRC32C.checksum(bytes[0..<split])
            #expect(CRC32C.checksum(bytes[split...], continuing: first) == whole)
        }
    }
}
