/// Decoded `application/x-www-form-urlencoded` pairs (query strings and POST bodies).
public struct FormParameters: Sendable, Equatable {
    /// The pairs in the order they were sent.
    public var pairs: [(String, String)]

    /// Wraps already decoded pairs.
    public init(pairs: [(String, String)]) {
        self.pairs = pairs
    }

    /// Decodes `a=1&b=%2B1` text: `+` is a space and `%XX` a byte, as browsers and Twilio's libraries encode.
    public init(encoded: String) {
        var result: [(String, String)] = []
        for piece in encoded.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = piece.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = FormParameters.decode(String(parts[0]))
            let value = parts.count > 1 ? FormParameters.decode(String(parts[1])) : ""
            result.append((name, value))
        }
        self.pairs = result
    }

    /// The last value sent for `name` (Twilio takes the last), or nil.
    public subscript(name: String) -> String? {
        pairs.last(where: { $0.0 == name })?.1
    }

    /// Percent-decodes one component; `+` becomes a space; invalid escapes stay as written.
    public static func decode(_ text: String) -> String {
        var bytes: [UInt8] = []
        let utf8 = Array(text.utf8)
        var index = 0
        while index < utf8.count {
            let byte = utf8[index]
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), index + 2 < utf8.count,
                let high = hexValue(utf8[index + 1]), let low = hexValue(utf8[index + 2])
            {
                bytes.append(high << 4 | low)
                index += 2
            } else {
                bytes.append(byte)
            }
            index += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Percent-encodes one component for a query string (unreserved characters stay, `+` becomes `%2B`).
    public static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }

    /// Encodes the pairs back to `a=1&b=2` form.
    public func encoded() -> String {
        pairs.map { encode($0.0) + "=" + encode($0.1) }.joined(separator: "&")
    }

    private func encode(_ text: String) -> String { FormParameters.encode(text) }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    public static func == (lhs: FormParameters, rhs: FormParameters) -> Bool {
        lhs.pairs.map { [$0.0, $0.1] } == rhs.pairs.map { [$0.0, $0.1] }
    }
}
