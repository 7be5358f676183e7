import NIOCore
import NumberAPI
import NumberWire
import Testing

/// Pins the byte-for-byte example of FRAMING.md §9, so the spec and the code cannot drift apart.
@Suite("FRAMING.md example")
struct FramingExampleTests {
    @Test("a GetBalance call is the bytes FRAMING.md shows")
    func getBalanceCall() throws {
        var bytes = ByteBuffer()
        Preface.write(to: &bytes)
        bytes.writeFrame(Frame(type: .settings, streamID: 0))
        var headers = ByteBuffer()
        try ProtoEncoder().encode(RequestHeaders(method: NumbersMethods.getBalance.path), into: &headers)
        bytes.writeFrame(Frame(type: .headers, streamID: 1, payload: headers))
        var message = ByteBuffer()
        try ProtoEncoder().encode(GetBalanceRequest(accountId: "ACC_1"), into: &message)
        bytes.writeFrame(Frame(type: .message, flags: .endStream, streamID: 1, payload: message))

        var expected: [UInt8] = [0x4E, 0x52, 0x50, 0x43, 0x00, 0x01, 0x00, 0x00]
        expected += [0, 0, 0, 0, 0x00, 0x00, 0, 0, 0, 0, 0, 0]
        expected += [0, 0, 0, 0x20, 0x01, 0x00, 0, 0, 0, 0, 0, 1, 0x0A, 0x1E]
        expected += Array("/numbers.v1.Numbers/GetBalance".utf8)
        expected += [0, 0, 0, 0x07, 0x02, 0x01, 0, 0, 0, 0, 0, 1, 0x0A, 0x05]
        expected += Array("ACC_1".utf8)
        #expect(Array(bytes.readableBytesView) == expected)

        // An OK status is an empty TRAILERS payload.
        #expect(try ProtoEncoder().encode(RpcStatus(code: 0)).isEmpty)
    }

    /// The protocol review: the example's client sends an empty SETTINGS, numberd's own client its four values; the
    /// note under the example gives those bytes.
    @Test("the SETTINGS payload numberd's client sends is the one the note under FRAMING.md's example gives")
    func clientSettings() {
        var frame = ByteBuffer()
        frame.writeFrame(Frame(type: .settings, streamID: 0, payload: ConnectionSettings.defaults.payload()))
        let expected: [UInt8] = [
            0, 0, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01, 0x00, 0x40, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
            0x64,
            0x00, 0x03, 0x00, 0x00, 0x40, 0x00, 0x00, 0x04, 0x00, 0x04, 0x93, 0xE0,
        ]
        #expect(Array(frame.readableBytesView) == expected)
    }
}
