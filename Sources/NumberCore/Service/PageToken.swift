import Foundation

/// Opaque page tokens: a position in an append-only list, bound to the query that produced it.
enum PageToken {
    /// A token for continuing `query` at `position`.
    static func encode(query: String, position: Int) -> String {
        let text = "v1|\(Crypto.sha256Hex(query).prefix(16))|\(position)"
        return Data(text.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The position in `token`, which must have been made for `query`; nil token means the start.
    static func decode(_ token: String?, query: String) throws(NumberError) -> Int? {
        guard let token, !token.isEmpty else { return nil }
        guard token.utf8.count <= 128 else { throw .invalidPageToken() }
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.utf8.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else {
            throw .invalidPageToken()
        }
        let parts = text.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "v1", parts[1] == Crypto.sha256Hex(query).prefix(16),
            let position = Int(parts[2]), position >= 0
        else { throw .invalidPageToken() }
        return position
    }
}
