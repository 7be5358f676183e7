import NIOCore
import Testing

@testable import NumberWire

private let rangeCases: [(UInt16, UInt32, Bool)] = [
    (0x1, 16 * 1024 - 1, false), (0x1, 16 * 1024, true), (0x1, 16 * 1024 * 1024, true),
    (0x1, 16 * 1024 * 1024 + 1, false), (0x2, 0, false), (0x2, 1, true), (0x2, 10_000, true),
    (0x2, 10_001, false), (0x3, 1023, false), (0x3, 1024 * 1024 + 1, false),
]

@Suite("SETTINGS and GOAWAY payloads")
struct ConnectionSettingsTests {
    @Test("settings round trip and golden bytes")
    func roundTrip() throws {
        let settings = ConnectionSettings(
            maxMessagePayload: 65536, maxConcurrentStreams: 7, maxHeadersPayload: 2048, idleTimeoutMilliseconds: 0)
        let payload = settings.payload()
        #expect(
            Array(payload.readableBytesView) == [
                0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x07,
                0x00, 0x03, 0x00, 0x00, 0x08, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
            ])
        #expect(try ConnectionSettings(payload: payload) == settings)
    }

    @Test("API_REVISION is id 0x5, sent only when given; absent it reads as nil, and a later SETTINGS keeps it")
    func apiRevision() throws {
        let server = ConnectionSettings(apiRevision: 1)
        let payload = server.payload()
        #expect(payload.readableBytes == 30)
        #expect(Array(payload.readableBytesView.suffix(6)) == [0x00, 0x05, 0x00, 0x00, 0x00, 0x01])
        #expect(try ConnectionSettings(payload: payload) == server)
        // A client's SETTINGS, and an older server's, carry none.
        #expect(ConnectionSettings.defaults.payload().readableBytes == 24)
        #expect(try ConnectionSettings(payload: ConnectionSettings.defaults.payload()).apiRevision == nil)
        #expect(try ConnectionSettings(payload: ByteBuffer(), base: server).apiRevision == 1)
    }

    @Test("unknown ids are ignored, missing ids keep the base value")
    func unknownIgnored() throws {
        var payload = ByteBuffer()
        payload.writeInteger(UInt16(0x99))
        payload.writeInteger(UInt32(1))
        payload.writeInteger(UInt16(0x2))
        payload.writeInteger(UInt32(5))
        let settings = try ConnectionSettings(payload: payload)
        #expect(settings.maxConcurrentStreams == 5)
        #expect(settings.maxMessagePayload == ConnectionSettings.defaults.maxMessagePayload)
    }

    @Test(
        "values outside their range are refused at the edges",
        arguments: rangeCases)
    func ranges(id: UInt16, value: UInt32, accepted: Bool) {
        var payload = ByteBuffer()
        payload.writeInteger(id)
        payload.writeInteger(value)
        let parsed = try? ConnectionSettings(payload: payload)
        #expect((parsed != nil) == accepted)
    }

    @Test(
        "goaway round trip; long messages are cut to 1024 bytes at a character boundary; a message not UTF-8 is read leniently"
    )
    func goAway() throws {
        let away = GoAway(lastStreamID: 41, code: .enhanceYourCalm, message: "too many pings")
        #expect(try GoAway(payload: away.payload()) == away)
        let long = GoAway(lastStreamID: 1, code: .protocolError, message: String(repeating: "é", count: 600))
        let payload = long.payload()
        #expect(payload.readableBytes == 8 + 1024)
        #expect(try GoAway(payload: payload).message == String(repeating: "é", count: 512))
        var notUTF8 = ByteBuffer()
        notUTF8.writeInteger(UInt32(1))
        notUTF8.writeInteger(UInt32(0))
        notUTF8.writeBytes([0xFF, 0xFE])
        // The text is for humans; the last stream id and code before it must not be lost to it.
        #expect(try GoAway(payload: notUTF8) == GoAway(lastStreamID: 1, code: .noError, message: "\u{FFFD}\u{FFFD}"))
        // 1024 bytes that are not UTF-8 read as 1024 replacement characters, 3 bytes each: cut as when sent.
        var longNotUTF8 = ByteBuffer()
        longNotUTF8.writeInteger(UInt32(7))
        longNotUTF8.writeInteger(UInt32(4))
        longNotUTF8.writeRepeatingByte(0xFF, count: 1024)
        let lenient = try GoAway(payload: longNotUTF8)
        #expect(lenient.message == String(repeating: "\u{FFFD}", count: 341))
        #expect(try GoAway(payload: lenient.payload()) == lenient)
        #expect(throws: FramingError.self) { try GoAway(payload: ByteBuffer(bytes: [0, 0, 0, 1, 0, 0, 0])) }
        #expect(GoAway.Code.frameTooLarge.description == "FRAME_TOO_LARGE")
    }
}
