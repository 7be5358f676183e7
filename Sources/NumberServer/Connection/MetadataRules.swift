import NumberAPI

/// The metadata rules of FRAMING.md §6: lowercase keys of `a-z 0-9 - _ .`, at most 64 entries, values at most
/// 4096 bytes (the HEADERS size limit bounds the total).
enum MetadataRules {
    static let entriesMax = 64
    static let valueBytesMax = 4096
    static let requestIDBytesMax = 128

    /// The error a request's metadata deserves, nil if it is fine.
    static func check(_ metadata: [String: String]) -> RPCError? {
        guard metadata.count <= entriesMax else {
            return RPCError(
                code: .invalidArgument, message: "more than \(entriesMax) metadata entries", reason: "BAD_METADATA")
        }
        for (key, value) in metadata {
            guard !key.isEmpty, key.utf8.allSatisfy(isKeyByte) else {
                return RPCError(
                    code: .invalidArgument,
                    message: "metadata key \"\(key.prefix(64))\" is not lowercase a-z 0-9 - _ .", reason: "BAD_METADATA"
                )
            }
            guard value.utf8.count <= valueBytesMax else {
                return RPCError(
                    code: .invalidArgument, message: "metadata \(key) is longer than \(valueBytesMax) bytes",
                    reason: "BAD_METADATA")
            }
        }
        // An empty one counts as absent (the server makes one).
        if let id = metadata["request-id"], !id.isEmpty, !isValidRequestID(id) {
            return RPCError(
                code: .invalidArgument,
                message: "request-id must be at most \(requestIDBytesMax) printable ASCII characters, no spaces",
                reason: "BAD_METADATA")
        }
        return nil
    }

    /// Whether a client's `request-id` is one the server uses and logs as sent: 1 to ``requestIDBytesMax`` bytes of
    /// printable ASCII without spaces, so no id can break a log line (a newline in it would forge one).
    static func isValidRequestID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= requestIDBytesMax
            && id.utf8.allSatisfy { $0 > UInt8(ascii: " ") && $0 < 0x7F }
    }

    private static func isKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"),
            UInt8(ascii: "_"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }
}
