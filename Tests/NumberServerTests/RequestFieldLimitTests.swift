import NIOCore
import NIOEmbedded
import NumberAPI
import NumberWire
import Testing

@testable import NumberServer

/// A request's fields are indexed (16 bytes each, unknown ones included) before its handler runs, so before any key
/// is checked: a request of 2 million two-byte fields held 32 MiB of index per call. The decoder's bound on them
/// (`ProtoDecoder.Limits.fieldsMax`) refuses it as malformed, and the connection goes on.
@Suite("Server: the bound on a request's fields")
struct RequestFieldLimitTests {
    /// A GetBalance call on `stream` whose request is `fields` times `08 00`: field 1 as a varint, which for
    /// GetBalanceRequest (field 1 is a string) is an unknown field.
    static func call(stream: UInt32, fields: Int) throws -> ByteBuffer {
        var headers = ByteBuffer()
        try ProtoEncoder().encode(RequestHeaders(method: NumbersMethods.getBalance.path), into: &headers)
        var body = [UInt8](repeating: 0, count: 2 * fields)
        for index in stride(from: 0, to: body.count, by: 2) { body[index] = 0x08 }
        var bytes = ByteBuffer()
        bytes.writeFrame(Frame(type: .headers, streamID: stream, payload: headers))
        bytes.writeFrame(Frame(type: .message, flags: .endStream, streamID: stream, payload: ByteBuffer(bytes: body)))
        return bytes
    }

    @Test("a request of 2 million fields is MALFORMED_REQUEST, so is one of 65,537; one of 65,536 is served")
    func fieldBound() throws {
        var router = RPCRouter()
        router.registerSynchronous(NumbersMethods.getBalance) { request, _ in
            GetBalanceResponse(accountId: request.accountId, currency: "USD")
        }
        let (channel, _) = try embeddedServerConnection(
            timeouts: .init(
                settings: .seconds(1000), requestArrival: .seconds(30), frameArrival: .seconds(30), idle: .zero,
                goAwayFlush: .seconds(1)),
            router: router)
        try channel.writeInbound(Self.call(stream: 1, fields: 2_000_000))
        try channel.writeInbound(Self.call(stream: 3, fields: 65_536))
        try channel.writeInbound(Self.call(stream: 5, fields: 65_537))
        let frames = try writtenFrames(channel)
        let statuses = try trailerStatuses(frames)
        for stream: UInt32 in [1, 5] {
            #expect(statuses[stream]?.code == StatusCode.invalidArgument.rawValue, "stream \(stream)")
            #expect(statuses[stream]?.reason == "MALFORMED_REQUEST", "stream \(stream)")
        }
        #expect(statuses[3]?.code == StatusCode.ok.rawValue)
        #expect(frames.contains(where: { $0.type == .message && $0.streamID == 3 }))
        #expect(try goAway(in: frames) == nil)
        #expect(channel.isActive)
        _ = try? channel.finish()
    }
}
