import COpenSSL

/// OpenSSL's process-wide initialization, without its exit handler.
///
/// By default OpenSSL's first initialization registers an `atexit` handler (`OPENSSL_cleanup`) that frees its global
/// state — locks, providers, error tables — as the process exits. A process that exits while another thread still
/// runs TLS then crashes in that thread: `numbers` exiting 143 after SIGTERM cancelled its call while an event loop
/// thread was still in the handshake died of SIGSEGV (in `memcpy` or `pthread_rwlock_rdlock` inside libcrypto),
/// status 139 instead of 143 — and any exit of numberd with connections open (a fail-stop after an fsync error) could
/// too. With `OPENSSL_INIT_NO_ATEXIT` that state is left to the kernel, which reclaims the whole process anyway.
///
/// Only the process's first OpenSSL initialization decides, so each executable calls ``initialize()`` first thing in
/// `main`, before anything uses OpenSSL (libcurl's global initialization, a generated certificate, a hash each
/// initialize it too). ``TLSContext`` calls it as well, which helps a process embedding the client library only when
/// its first TLS context is its first use of OpenSSL: such a process should call it first itself.
public enum OpenSSLProcess {
    /// Initializes OpenSSL (libssl and libcrypto, their error strings, the configuration file) without its exit
    /// handler, once; whether OpenSSL initialized. Later calls return the first one's answer.
    @discardableResult
    public static func initialize() -> Bool { initialized }

    private static let initialized: Bool = OPENSSL_init_ssl(UInt64(OPENSSL_INIT_NO_ATEXIT), nil) == 1
}
