import NumberAPI
import NumberWire
import Testing

@testable import NumberClient

/// The client decodes a response bounded by the message size it accepts, not by the decoder's default count of
/// fields (``ProtoDecoder/Limits/fieldsMax``), which guards the server against requests before authentication.
@Suite("The client's response decoder")
struct ResponseDecoderTests {
    @Test("a response of more fields than the default limit (a page of a raised pageSizeMax) decodes")
    func manyFields() throws {
        // 70,000 trunks, each an empty sub-message: two bytes and one field apiece.
        let count = ProtoDecoder.Limits.defaults.fieldsMax + 4_464
        let bytes: [UInt8] = (0..<count * 2).map { $0 % 2 == 0 ? 0x0A : 0x00 }
        #expect(throws: (any Error).self) { try ProtoDecoder().decode(ListTrunksResponse.self, from: bytes) }
        let decoded = try NumbersClient.responseDecoder.decode(ListTrunksResponse.self, from: bytes)
        #expect(decoded.trunks.count == count)
    }
}
