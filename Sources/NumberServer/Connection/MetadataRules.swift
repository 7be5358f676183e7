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
        if let id = metadata["request-id"], id.utf8.count > requestIDBytesMax {
            return RPCError(
                code: .invalidArgument, message: "request-id is longer than \(requestIDBytesMax) bytes",
                reason: "BAD_METADATA")
        }
        return nil
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
