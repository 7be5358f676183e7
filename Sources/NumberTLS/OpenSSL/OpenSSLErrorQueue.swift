import COpenSSL

/// Reads OpenSSL's thread-local error queue.
///
/// OpenSSL reports failures by pushing entries onto a per-thread queue; a stale entry left behind would be blamed
/// on the next operation on the same event loop thread, so every operation clears it first and drains it after.
enum OpenSSLErrorQueue {
    /// Upper bound on the entries read, so a corrupt queue cannot make us loop forever.
    static let entriesMax = 32

    /// Empties the queue, returning its entries as readable strings, oldest first.
    static func drain() -> [String] {
        var entries: [String] = []
        while entries.count < entriesMax {
            let code = ERR_get_error()
            if code == 0 {
                break
            }
            entries.append(describe(code))
        }
        ERR_clear_error()
        return entries
    }

    /// Discards anything left on the queue.
    static func clear() {
        ERR_clear_error()
    }

    /// A readable string for one error code.
    static func describe(_ code: UInt) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A `TLSError` carrying the drained queue.
    static func error(_ code: TLSError.Code, _ message: String) -> TLSError {
        TLSError(code: code, message: message, openSSLErrors: drain())
    }
}
