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

    private static func encode(_ status: RpcStatus) -> ByteBuffer {
        var buffer = ByteBuffer()
        try! ProtoEncoder().encode(status, into: &buffer)
        return buffer
    }
}
