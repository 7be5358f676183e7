import NIOCore
import NumberAPI
import NumberWire

/// nrpc/1 framing over arbitrary bytes.
///
/// Input: byte 0 picks the mode (bit 0: the server side, expecting the preface; bit 1: small limits of 16 KiB
/// messages and 1 KiB headers, so over-limit frames are reachable with short inputs), byte 1 the chunk size the
/// stream arrives in (0: all at once), the rest is the stream. Properties: only `FramingError` is thrown; chunked
/// and whole decoding agree; the decoded frames re-encode to exactly the bytes consumed; a complete frame is never
/// left undecoded; SETTINGS, GOAWAY, HEADERS and TRAILERS payloads parse to a typed error or round-trip.
enum FrameDecoderCheck {
    static let name = FuzzTarget.frameDecoder.rawValue

    /// The small limits of mode bit 1.
    static let smallLimits = FrameLimits(messagePayloadMax: 16 * 1024, headersPayloadMax: 1024)

    struct Outcome: Equatable {
        var frames: [Frame] = []
        var error: FramingError?
    }

    static func run(_ input: [UInt8]) throws(FuzzCheckFailure) {
        guard input.count >= 2 else { return }
        let expectsPreface = input[0] & 1 == 1
        let limits = input[0] & 2 == 0 ? FrameLimits.defaults : smallLimits
        let stream = Array(input[2...])
        let whole = try decode(stream, chunk: 0, limits: limits, expectsPreface: expectsPreface)
        let chunked = try decode(stream, chunk: Int(input[1]), limits: limits, expectsPreface: expectsPreface)
        guard whole == chunked else {
            throw FuzzCheckFailure(name, "chunks of \(input[1]) decode differently: \(chunked) vs \(whole)")
        }
        try checkReencoding(whole, stream: stream, limits: limits, expectsPreface: expectsPreface)
        for frame in whole.frames { try checkPayload(frame) }
    }

    /// Decodes `stream` as numberd's server and client read it (``FrameReader``), in reads of `chunk` bytes (0: one
    /// read). After each read, the bytes the reader holds are exactly those fed that no frame (nor the preface) took.
    static func decode(
        _ stream: [UInt8], chunk: Int, limits: FrameLimits, expectsPreface: Bool
    ) throws(FuzzCheckFailure) -> Outcome {
        let reader = FrameReader(FrameDecoder(limits: limits, expectsPreface: expectsPreface))
        var outcome = Outcome()
        var taken = 0
        let size = chunk == 0 ? max(stream.count, 1) : chunk
        var start = 0
        while start < stream.count {
            let end = min(start + size, stream.count)
            let failure = reader.read(ByteBuffer(bytes: stream[start..<end])) { frame in
                outcome.frames.append(frame)
                taken += Frame.headerLength + frame.payload.readableBytes
            }
            start = end
            if let failure {
                guard let framing = failure as? FramingError else {
                    throw FuzzCheckFailure(name, "untyped error \(type(of: failure)): \(failure)")
                }
                outcome.error = framing
                break
            }
            let preface = expectsPreface && end >= Preface.length ? Preface.length : 0
            guard reader.partialFrameBytes == end - taken - preface else {
                throw FuzzCheckFailure(
                    name,
                    "after \(end) bytes the reader holds \(reader.partialFrameBytes), not \(end - taken - preface)")
            }
        }
        return outcome
    }

    /// The frames written back are the bytes they came from, and whatever is left is not a whole frame.
    static func checkReencoding(
        _ outcome: Outcome, stream: [UInt8], limits: FrameLimits, expectsPreface: Bool
    ) throws(FuzzCheckFailure) {
        let prefaceRefused = outcome.error.map { [.badPreface, .unsupportedVersion].contains($0.kind) } ?? false
        let prefaceRead = expectsPreface && stream.count >= Preface.length && !prefaceRefused
        var encoded = ByteBuffer()
        if prefaceRead { Preface.write(to: &encoded) }
        for frame in outcome.frames { encoded.writeFrame(frame) }
        let consumed = encoded.readableBytes
        guard consumed <= stream.count, Array(encoded.readableBytesView) == Array(stream[0..<consumed]) else {
            throw FuzzCheckFailure(name, "re-encoded frames differ from the \(consumed) bytes they were decoded from")
        }
        guard outcome.error == nil else { return }
        let rest = stream[consumed...]
        guard rest.count >= Frame.headerLength else { return }
        let length = rest.prefix(4).reduce(0) { $0 << 8 | Int($1) }
        guard rest.count < Frame.headerLength + length else {
            throw FuzzCheckFailure(name, "a whole frame of \(length) bytes was left undecoded without an error")
        }
    }

    /// Connection frame payloads parse to a typed error or round-trip; HEADERS and TRAILERS as their messages.
    static func checkPayload(_ frame: Frame) throws(FuzzCheckFailure) {
        switch frame.type {
        case .settings where !frame.flags.contains(.ack):
            guard let settings = try? ConnectionSettings(payload: frame.payload) else { return }
            guard (try? ConnectionSettings(payload: settings.payload())) == settings else {
                throw FuzzCheckFailure(name, "SETTINGS \(settings) does not round-trip")
            }
        case .goAway:
            guard let goAway = try? GoAway(payload: frame.payload) else { return }
            guard (try? GoAway(payload: goAway.payload())) == goAway else {
                throw FuzzCheckFailure(name, "GOAWAY \(goAway) does not round-trip")
            }
        case .headers:
            try MessageDecoderCheck.roundTrip(RequestHeaders.self, Array(frame.payload.readableBytesView), check: name)
        case .trailers:
            try MessageDecoderCheck.roundTrip(RpcStatus.self, Array(frame.payload.readableBytesView), check: name)
        default:
            return
        }
    }
}
