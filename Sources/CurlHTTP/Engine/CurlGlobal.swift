import CCurl

/// libcurl's process-wide initialisation, done once before the first handle is made.
enum CurlGlobal {
    /// `curl_global_init` is not thread-safe; a global `let` runs it exactly once, lazily and atomically.
    static let initialized: Bool = curl_global_init(numberd_curl_global_default()) == CURLE_OK
}

/// A `CURLM *` that may be shared across threads for `curl_multi_wakeup` only (the one call libcurl documents as
/// thread-safe); every other use stays on the client's thread.
final class MultiHandle: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer

    init(raw: UnsafeMutableRawPointer) {
        self.raw = raw
    }
}
