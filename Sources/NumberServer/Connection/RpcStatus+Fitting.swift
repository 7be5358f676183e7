import NIOCore
import NumberAPI
import NumberWire

extension RpcStatus {
    /// This status encoded in at most `bytesMax` bytes, the client's MAX_HEADERS_PAYLOAD: a TRAILERS frame over the
    /// client's limit fails its whole connection, and the message may echo what the client sent (a method name).
    ///
    /// Shortens, in order, the message (at a character boundary), then drops metadata, then shortens the reason;
    /// the code is always kept (its encoding is far below the smallest limit, 1 KiB).
    func encoded(bytesMax: Int) -> ByteBuffer {
        var status = self
        var payload = status.encoded()
        while payload.readableBytes > bytesMax {
            let excess = payload.readableBytes - bytesMax
            if !status.message.isEmpty {
                status.message = Self.prefix(of: status.message, utf8Bytes: status.message.utf8.count - excess)
            } else if let key = status.metadata.keys.max() {
                status.metadata[key] = nil
            } else if !status.reason.isEmpty {
                status.reason = Self.prefix(of: status.reason, utf8Bytes: status.reason.utf8.count - excess)
            } else {
                preconditionFailure("a status with only a code is \(payload.readableBytes) bytes")
            }
            payload = status.encoded()
        }
        return payload
    }

    private func encoded() -> ByteBuffer {
        var payload = ByteBuffer()
        try? ProtoEncoder().encode(self, into: &payload)
        return payload
    }

    /// The longest prefix of `text` of at most `utf8Bytes` bytes that ends on a character boundary.
    private static func prefix(of text: String, utf8Bytes: Int) -> String {
        var length = 0
        var end = text.startIndex
        for index in text.indices {
            let next = text.index(after: index)
            let size = text.utf8.distance(from: index, to: next)
            guard length + size <= utf8Bytes else { break }
            length += size
            end = next
        }
        return String(text[..<end])
    }
}
