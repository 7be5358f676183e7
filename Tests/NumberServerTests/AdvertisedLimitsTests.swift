import NIOCore
import NIOEmbedded
import NumberAPI
import NumberWire
import Testing

@testable import NumberServer

/// The server holds a client to the limits of its own SETTINGS from the connection's first byte, before the client
/// has acknowledged them (FRAMING.md §7). A client starts no call before the server's SETTINGS have arrived (§2; the
/// client checks each call's frames against them), so no call of a client that keeps to the protocol is sent under
/// the defaults; a server with smaller limits than the defaults does not let a client that never acknowledges them
/// use the defaults instead.
@Suite("Server: its advertised limits")
struct AdvertisedLimitsTests {
    /// A connection of a server advertising the smallest MESSAGE and HEADERS limits (16 KiB, 1 KiB), past the client's
    /// preface and SETTINGS, which has not acknowledged the server's.
    static func connection() throws -> EmbeddedChannel {
        let settings = ConnectionSettings(maxMessagePayload: 16 * 1024, maxHeadersPayload: 1024)
        return try embeddedServerConnection(
            timeouts: .init(
                settings: .seconds(1000), requestArrival: .zero, frameArrival: .zero, idle: .zero,
                goAwayFlush: .seconds(1)),
            router: abuseRouter(),
            limits: .init(settings: settings, pingsBetweenCallsMax: 100, cancelsBetweenCompletionsMax: 1000)
        ).0
    }

    /// A HealthCheckRequest of exactly `length` bytes: an unknown field (15) of padding, which decoding skips.
    static func paddedRequest(length: Int) -> ByteBuffer {
        var request = ByteBuffer()
        request.writeInteger(UInt8(15 << 3 | 2))
        let padding = length - 3  // tag (1 byte) and a 2-byte length
        request.writeInteger(UInt8(padding & 0x7F | 0x80))
        request.writeInteger(UInt8(padding >> 7))
        request.writeRepeatingByte(0, count: padding)
        return request
    }

    @Test(
        "before the client acknowledges the server's SETTINGS, a MESSAGE or HEADERS at the advertised limit is served, one byte more is FRAME_TOO_LARGE",
        arguments: ["MESSAGE", "HEADERS"])
    func advertisedLimitsFromTheFirstByte(frame: String) throws {
        let channel = try Self.connection()
        #expect(try writtenFrames(channel).map(\.type) == [.settings, .settings])  // its SETTINGS, the client's ACK
        var headers = ByteBuffer()
        try ProtoEncoder().encode(RequestHeaders(method: NumbersMethods.healthCheck.path), into: &headers)
        let limit = frame == "MESSAGE" ? 16 * 1024 : 1024
        for (stream, length) in [(UInt32(1), limit), (3, limit + 1)] {
            var bytes = ByteBuffer()
            if frame == "MESSAGE" {
                bytes.writeFrame(Frame(type: .headers, streamID: stream, payload: headers))
                bytes.writeFrame(
                    Frame(
                        type: .message, flags: .endStream, streamID: stream,
                        payload: Self.paddedRequest(length: length)))
            } else {
                var padded = headers
                var padding = Self.paddedRequest(length: length - headers.readableBytes)
                padded.writeBuffer(&padding)
                bytes.writeFrame(Frame(type: .headers, streamID: stream, payload: padded))
                bytes.writeFrame(Frame(type: .message, flags: .endStream, streamID: stream))
            }
            _ = try? channel.writeInbound(bytes)
            let away = try goAway(in: writtenFrames(channel))
            if length == limit {
                #expect(away == nil, "\(frame) of \(length) bytes refused: \(String(describing: away))")
                #expect(channel.isActive)
            } else {
                #expect(away?.code == .frameTooLarge, "\(frame) of \(length) bytes")
            }
        }
        _ = try? channel.finish()
    }

    /// numberd's server takes request messages of up to 64 KiB unless configured otherwise (the largest valid request
    /// is about 2 KiB), not the protocol's 4 MiB, and advertises it in its SETTINGS: it bounds what a request costs
    /// before any check, its bytes and the decoded message its call holds while it runs or waits in the core. A
    /// MESSAGE of exactly 64 KiB (an unknown field pads a HealthCheck) is served; one byte more closes the connection
    /// with GOAWAY FRAME_TOO_LARGE, its payload never read.
    @Test("on its defaults the server takes and advertises request messages of 64 KiB; one byte more: FRAME_TOO_LARGE")
    func defaultRequestLimit() async throws {
        let tls = try TestTLS()
        #expect(NumberServerConfiguration.ConnectionLimits.defaults.settings.maxMessagePayload == 64 * 1024)
        // The size limits on their defaults; the arrival deadlines past what a loaded full run starves a connection
        // for (a 64 KiB frame's arrival once outlasted them there, and the call was refused for time, not size).
        var configuration = NumberServerConfiguration(port: 0)
        configuration.connection.settingsTimeout = .seconds(600)
        configuration.connection.requestArrivalTimeout = .seconds(600)
        configuration.connection.frameArrivalTimeout = .seconds(600)
        try await withTestServer(router: abuseRouter(), tls: tls, configuration: configuration) { _, port in
            for length in [64 * 1024, 64 * 1024 + 1] {
                let connection = try await RawConnection.connect(port: port, tls: tls)
                try await connection.send(ProtocolAbuseTests.largeHealthCheck(bodyBytes: length).bytes)
                if length == 64 * 1024 {
                    let frames = try await connection.waitForFrames { try trailerStatuses($0)[1] != nil }
                    #expect(try trailerStatuses(frames)[1]?.code == 0, "a MESSAGE of \(length) bytes")
                    #expect(try goAway(in: frames) == nil)
                    // The server's own SETTINGS: the first frame it sent, before the ACK of the client's.
                    let settings = try #require(frames.first)
                    #expect(settings.type == .settings)
                    #expect(try ConnectionSettings(payload: settings.payload).maxMessagePayload == 64 * 1024)
                    try await connection.channel.close()
                } else {
                    #expect(await connection.waitForClose(timeout: .seconds(60)) != nil)
                    let frames = try connection.frames()
                    let away = try goAway(in: frames)
                    #expect(away?.code == .frameTooLarge, "a MESSAGE of \(length) bytes: \(String(describing: away))")
                    // The call whose request it was is answered so, before the GOAWAY (a diff review: answered
                    // REQUEST_NOT_ARRIVED, its client sent it again and again, each time closing a connection).
                    let refused = try trailerStatuses(frames)[1]
                    #expect(
                        refused?.reason == "REQUEST_TOO_LARGE" && refused?.code == 8, "\(String(describing: refused))")
                }
            }
        }
    }
}
