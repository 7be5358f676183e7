import NIOCore
import NumberAPI
import NumberWire

/// Locally made statuses, as TRAILERS payloads, so local and remote failures take one path.
///
/// A deadline or cancellation that ends a call before its request was sent (queued, or cancelled before it
/// started) says so with `outcome=not-started`: the server never saw it, so its outcome is known. One that ends a
/// sent call leaves the outcome open (the server may carry the request out all the same); the retry rules add the
/// idempotency key of a keyed call to those.
enum ClientStatus {
    static let deadlineExceeded = encode(
        RpcStatus(
            code: StatusCode.deadlineExceeded.rawValue, message: "the call's deadline passed",
            reason: "DEADLINE_EXCEEDED"))
    static let cancelled = encode(
        RpcStatus(
            code: StatusCode.cancelled.rawValue, message: "the call was cancelled by the caller", reason: "CANCELLED"))
    static let deadlineExceededNotSent = encode(
        RpcStatus(
            code: StatusCode.deadlineExceeded.rawValue, message: "the call's deadline passed before it was sent",
            reason: "DEADLINE_EXCEEDED", metadata: ["outcome": "not-started"]))
    static let cancelledNotSent = encode(
        RpcStatus(
            code: StatusCode.cancelled.rawValue, message: "the call was cancelled by the caller before it was sent",
            reason: "CANCELLED", metadata: ["outcome": "not-started"]))

    /// A call refused because `max` calls already wait on its connection (`queuedCallsMax`); it was not sent.
    static func queueFull(max: Int) -> ByteBuffer {
        encode(
            RpcStatus(
                code: StatusCode.resourceExhausted.rawValue,
                message: "more than \(max) calls queued on one connection; it was not sent",
                reason: "CLIENT_QUEUE_FULL",
                metadata: ["outcome": "not-started", "limit": "\(max)"]))
    }

    /// A call with a frame over the server's limit, refused before it was sent: `RESOURCE_EXHAUSTED`, as gRPC
    /// answers a message over its size limit. Not `INVALID_ARGUMENT`: the request is well formed, and a server
    /// configured with larger limits takes it. Never retried (a status is final): the same call would be refused
    /// again.
    static func requestTooLarge(_ oversize: ClientConnectionStateMachine.Oversize) -> ByteBuffer {
        let setting = oversize.frame == "HEADERS" ? "MAX_HEADERS_PAYLOAD" : "MAX_MESSAGE_PAYLOAD"
        return encode(
            RpcStatus(
                code: StatusCode.resourceExhausted.rawValue,
                message:
                    "the request's \(oversize.frame) of \(oversize.size) bytes is over the server's \(setting) of "
                    + "\(oversize.limit) bytes; it was not sent",
                reason: "REQUEST_TOO_LARGE",
                metadata: ["frame": oversize.frame, "size": "\(oversize.size)", "limit": "\(oversize.limit)"]))
    }

    /// A call that sets request fields the server would skip as unknown, `fields` (their revision above the server's
    /// `serverRevision`, ``APIRevision``), refused before it was sent: the guard they carry would fail open there (a
    /// release without its billing check, a purchase without its price limit). `FAILED_PRECONDITION`, as for any
    /// refusal by the state of things, here the server's version; not retried (a status is final): the same call
    /// would be refused again on this connection. `field` names them (numbers.proto names, comma-separated).
    static func serverTooOld(_ fields: [APIRevision.GuardedField], serverRevision: UInt32) -> ByteBuffer {
        let names = fields.map { "\($0.message).\($0.field)" }.joined(separator: ", ")
        let required = fields.map(\.revision).max() ?? APIRevision.current
        return encode(
            RpcStatus(
                code: StatusCode.failedPrecondition.rawValue,
                message:
                    "the request sets \(names), which needs numberd API revision \(required), and the server is "
                    + "revision \(serverRevision): it would ignore the field and act without it, so the request was "
                    + "not sent; upgrade numberd, or send the request without that field",
                reason: "SERVER_TOO_OLD",
                metadata: [
                    "field": fields.map(\.field).joined(separator: ","), "requiredRevision": "\(required)",
                    "serverRevision": "\(serverRevision)",
                ]))
    }

    private static func encode(_ status: RpcStatus) -> ByteBuffer {
        var buffer = ByteBuffer()
        try! ProtoEncoder().encode(status, into: &buffer)
        return buffer
    }
}
