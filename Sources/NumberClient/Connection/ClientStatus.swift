import NIOCore
import NumberAPI
import NumberWire

/// Locally made statuses, as TRAILERS payloads, so local and remote failures take one path.
enum ClientStatus {
    static let deadlineExceeded = encode(
        RpcStatus(
            code: StatusCode.deadlineExceeded.rawValue, message: "the call's deadline passed",
            reason: "DEADLINE_EXCEEDED"))
    static let cancelled = encode(
        RpcStatus(
            code: StatusCode.cancelled.rawValue, message: "the call was cancelled by the caller", reason: "CANCELLED"))

    static let queueFull = encode(
        RpcStatus(
            code: StatusCode.resourceExhausted.rawValue, message: "more than 10000 calls queued on one connection",
            reason: "CLIENT_QUEUE_FULL"))

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

    private static func encode(_ status: RpcStatus) -> ByteBuffer {
        var buffer = ByteBuffer()
        try! ProtoEncoder().encode(status, into: &buffer)
        return buffer
    }
}
