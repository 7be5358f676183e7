import Foundation

/// Opaque page tokens: a position in an append-only list, bound to the query that produced it.
enum PageToken {
    /// Longest token accepted, in bytes (numberd's own are about 50: base64 of a version, a 16-digit hash of the
    /// query and a position or an id); a longer one is refused before it is decoded, with a message naming this limit.
    static let lengthMax = 128

    /// A token for continuing `query` at `position`.
    static func encode(query: String, position: Int) -> String {
        encode(query: query, payload: "\(position)")
    }

    /// The position in `token`, which must have been made for `query`; nil token means the start.
    static func decode(_ token: String?, query: String) throws(NumberError) -> Int? {
        guard let value = try payload(token, query: query) else { return nil }
        guard let position = Int(value), position >= 0 else { throw .invalidPageToken() }
        return position
    }

    /// A token for continuing `query` after the key `key` (keyset paging: rows inserted meanwhile never shift
    /// later pages).
    static func encode(query: String, after key: String) -> String {
        encode(query: query, payload: ">" + key)
    }

    /// The key in a token made by `encode(query:after:)` for `query`; nil token means the start.
    static func decodeKey(_ token: String?, query: String) throws(NumberError) -> String? {
        guard let value = try payload(token, query: query) else { return nil }
        guard value.hasPrefix(">"), value.utf8.count > 1 else { throw .invalidPageToken() }
        return String(value.dropFirst())
    }

    private static func encode(query: String, payload: String) -> String {
        let text = "v1|\(Crypto.sha256Hex(query).prefix(16))|\(payload)"
        return Data(text.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The payload of `token`, checked to be ours and made for `query`.
    private static func payload(_ token: String?, query: String) throws(NumberError) -> String? {
        guard let token, !token.isEmpty else { return nil }
        guard token.utf8.count <= lengthMax else { throw .pageTokenTooLong(max: lengthMax) }
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.utf8.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else {
            throw .invalidPageToken()
        }
        let parts = text.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "v1", parts[1] == Crypto.sha256Hex(query).prefix(16) else {
            throw .invalidPageToken()
        }
        return String(parts[2])
    }
}
