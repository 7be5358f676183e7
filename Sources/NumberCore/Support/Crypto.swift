import COpenSSL
import Foundation

/// SHA-256, random bytes and constant-time comparison from the system OpenSSL; C types stay in this file.
enum Crypto {
    /// `count` cryptographically random bytes. Traps if OpenSSL's generator fails: ids and secrets from a
    /// broken generator would be worse than stopping.
    static func randomBytes(_ count: Int) -> [UInt8] {
        precondition(count > 0 && count <= 1024, "random byte count out of range")
        var bytes = [UInt8](repeating: 0, count: count)
        let ok = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(ok == 1, "RAND_bytes failed")
        return bytes
    }

    /// Lower-case hex of `count` random bytes (so `2 × count` characters).
    static func randomHex(_ count: Int) -> String {
        hex(randomBytes(count))
    }

    /// SHA-256 fetched from the default provider once: `EVP_sha256()` makes every digest fetch it again (name
    /// look-ups, locks), which cost more than hashing an API key. A fetched `EVP_MD` is immutable and may be used
    /// from any thread.
    private nonisolated(unsafe) static let sha256Method: OpaquePointer = {
        guard let method = EVP_MD_fetch(nil, "SHA256", nil) else { preconditionFailure("EVP_MD_fetch(SHA256) failed") }
        return method
    }()

    /// The SHA-256 digest of `data`.
    static func sha256(_ data: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = data.withUnsafeBytes { input in
            digest.withUnsafeMutableBufferPointer { output in
                EVP_Digest(input.baseAddress, input.count, output.baseAddress, &length, sha256Method, nil)
            }
        }
        precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) failed")
        return digest
    }

    /// Lower-case hex SHA-256 of the UTF-8 bytes of `text`.
    static func sha256Hex(_ text: String) -> String {
        hex(sha256(Array(text.utf8)))
    }

    /// Whether `a` and `b` are equal, in time that depends only on their lengths.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        let result = a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) }
        }
        return result == 0
    }

    /// Lower-case hex.
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Bytes of a lower-case or upper-case hex string, or nil if it is not hex.
    static func unhex(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var index = 0
        while index < chars.count {
            guard let high = nibble(chars[index]), let low = nibble(chars[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Prefixed random identifiers like `ACC_7a8b9c0d1e2f` (12 hex characters, as in the seed).
enum Identifier {
    /// Account ids.
    static let account = "ACC"
    /// Trunk ids.
    static let trunk = "TRK"
    /// Owned-number ids.
    static let number = "NUM"
    /// Ledger transaction ids.
    static let transaction = "TXN"
    /// API key ids.
    static let apiKey = "KEY"
    /// Purchase intent ids.
    static let intent = "PIN"

    /// A fresh id with `prefix` that `taken` does not already contain.
    static func make(_ prefix: String, taken: (String) -> Bool = { _ in false }) -> String {
        // 48 random bits: collisions are rare but possible across millions of ids, so the caller checks.
        for _ in 0..<16 {
            let id = prefix + "_" + Crypto.randomHex(6)
            if !taken(id) { return id }
        }
        preconditionFailure("could not find a free \(prefix) id in 16 draws")
    }
}
