import COpenSSL
import Foundation
import Synchronization

/// SHA-256, random bytes and constant-time comparison from the system OpenSSL; C types stay in this file.
package enum Crypto {
    /// `count` cryptographically random bytes. Traps if OpenSSL's generator fails: ids and secrets from a
    /// broken generator would be worse than stopping.
    static func randomBytes(_ count: Int) -> [UInt8] {
        precondition(count > 0 && count <= 1024, "random byte count out of range")
        var bytes = [UInt8](repeating: 0, count: count)
        fillRandom(&bytes)
        return bytes
    }

    /// Overwrites `bytes` with random bytes from OpenSSL, or stops the process. Not a precondition: an unchecked
    /// build would skip it and hand out bytes that are not random.
    private static func fillRandom(_ bytes: inout [UInt8]) {
        let ok = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32($0.count)) }
        guard ok == 1 else { fatalError("RAND_bytes failed") }
    }

    /// Lower-case hex of `count` random bytes (so `2 × count` characters).
    package static func randomHex(_ count: Int) -> String {
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

    /// Lower-case Crockford base32 (`0-9` and `a-z` without `i`, `l`, `o`, `u`).
    static let base32Alphabet: StaticString = "0123456789abcdefghjkmnpqrstvwxyz"

    /// Random bytes for identifiers, drawn from OpenSSL `identifierPoolSize` at a time: one `RAND_bytes` call
    /// costs microseconds (the DRBG's per-call set-up), more than the rest of making an id. Secrets (API keys)
    /// never come from here.
    private static let identifierPool = Mutex(IdentifierPool())

    /// Bytes of the identifier pool drawn per refill (4 KiB: 372 ids of 11 characters).
    static let identifierPoolSize = 4096

    private struct IdentifierPool {
        var bytes = [UInt8](repeating: 0, count: Crypto.identifierPoolSize)
        /// The next unused byte; `bytes.count` when the pool is spent.
        var next = Crypto.identifierPoolSize

        /// Calls `body` with `count` unused random bytes, refilling the pool first if fewer are left.
        mutating func take<R>(_ count: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
            precondition(count > 0 && count <= bytes.count, "identifier random byte count out of range")
            if bytes.count - next < count {
                Crypto.fillRandom(&bytes)
                next = 0
            }
            defer { next += count }
            return bytes.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[next..<next + count])) }
        }
    }

    /// `prefix` followed by `count` random characters of lower-case Crockford base32, 5 bits each (from the
    /// identifier pool), built in one string.
    static func randomBase32(_ count: Int, after prefix: String) -> String {
        var prefix = prefix
        let length = prefix.utf8.count + count
        return prefix.withUTF8 { head in
            identifierPool.withLock { pool in
                pool.take(count) { random in
                    String(unsafeUninitializedCapacity: length) { out in
                        let alphabet = UnsafeRawBufferPointer(
                            start: base32Alphabet.utf8Start, count: base32Alphabet.utf8CodeUnitCount)
                        _ = out.initialize(from: head)
                        for index in 0..<count { out[head.count + index] = alphabet[Int(random[index] & 0x1f)] }
                        return length
                    }
                }
            }
        }
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

/// Prefixed random identifiers like `NUM_7a8b9c0d1e2`: 11 characters of lower-case Crockford base32 (55 random
/// bits) after the prefix, so an id is 15 bytes of ASCII, which Swift keeps inline in the `String` itself (no heap
/// allocation, no reference counting, and hashing and comparing it never leave the table). Ids are opaque: ids of
/// the older 12-hex form (16 bytes) in existing data keep working. API key ids keep 12 hex characters, because a
/// key's secret embeds them (`makeApiKeyId`).
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
    /// Random characters after the prefix and its underscore.
    static let randomLength = 11
    /// Hex characters of an API key id after `KEY_`.
    static let apiKeyHexLength = 12

    /// The three-letter prefix of `id` when it has the form `XXX_…`, else the empty string.
    static func prefix(of id: String) -> String {
        let utf8 = id.utf8
        guard utf8.count > 4 else { return "" }
        let underscore = utf8.index(utf8.startIndex, offsetBy: 3)
        guard utf8[underscore] == UInt8(ascii: "_") else { return "" }
        return String(id[..<underscore])
    }

    /// A fresh id with `prefix` (three letters) that `taken` does not already contain.
    static func make(_ prefix: String, taken: (String) -> Bool = { _ in false }) -> String {
        let head = prefix + "_"
        return draw(prefix, taken: taken) { Crypto.randomBase32(randomLength, after: head) }
    }

    /// A fresh API key id (`KEY_` and 12 hex characters) that `taken` does not already contain.
    static func makeApiKeyId(taken: (String) -> Bool) -> String {
        draw(apiKey, taken: taken) { apiKey + "_" + Crypto.randomHex(apiKeyHexLength / 2) }
    }

    private static func draw(_ prefix: String, taken: (String) -> Bool, _ next: () -> String) -> String {
        // Collisions are rare but possible across millions of ids, so the caller checks.
        for _ in 0..<16 {
            let id = next()
            if !taken(id) { return id }
        }
        preconditionFailure("could not find a free \(prefix) id in 16 draws")
    }
}
