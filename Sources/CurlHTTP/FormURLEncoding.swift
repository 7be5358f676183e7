/// Builds `application/x-www-form-urlencoded` bodies and query strings.
///
/// Every byte outside the unreserved set `A-Z a-z 0-9 - . _ ~` is percent-encoded as UTF-8, so `+` in an E.164
/// number becomes `%2B` (a raw `+` would decode to a space) and a space becomes `%20`.
///
/// ```swift
/// FormURLEncoding.encode([("PhoneNumber", "+14155551234"), ("FriendlyName", "a&b")])
/// // "PhoneNumber=%2B14155551234&FriendlyName=a%26b"
/// ```
public enum FormURLEncoding {
    /// The `Content-Type` value of a form body.
    public static let contentType = "application/x-www-form-urlencoded"

    /// Encodes name/value pairs in order, joined by `&`.
    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
    }

    /// Percent-encodes one component (a name, a value, or a URL path segment).
    public static func percentEncode(_ component: String) -> String {
        var encoded = [UInt8]()
        encoded.reserveCapacity(component.utf8.count)
        for byte in component.utf8 {
            if isUnreserved(byte) {
                encoded.append(byte)
            } else {
                encoded.append(UInt8(ascii: "%"))
                encoded.append(hexDigits[Int(byte >> 4)])
                encoded.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }

    /// Decodes a form body or query string into pairs (`+` as space, `%XX` as a byte); `nil` if malformed.
    public static func decode(_ form: String) -> [(String, String)]? {
        if form.isEmpty { return [] }
        var pairs: [(String, String)] = []
        for part in form.split(separator: "&", omittingEmptySubsequences: false) {
            let sides = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecode(sides[0]) else { return nil }
            guard let value = sides.count == 2 ? percentDecode(sides[1]) : "" else { return nil }
            pairs.append((name, value))
        }
        return pairs
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    private static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
