import COpenSSL

/// ALPN protocol names in the TLS wire format (each name prefixed by its length), owned by a ``TLSContext``.
final class ALPNWireList {
    /// The length-prefixed names; a stable heap buffer OpenSSL may point into after selection.
    let bytes: [UInt8]
    private let storage: UnsafeMutableBufferPointer<UInt8>

    init(_ names: [String]) throws {
        var bytes: [UInt8] = []
        for name in names {
            let utf8 = Array(name.utf8)
            guard (1...255).contains(utf8.count) else {
                throw TLSError(code: .invalidConfiguration, message: "ALPN name must be 1...255 bytes: \(name)")
            }
            bytes.append(UInt8(utf8.count))
            bytes.append(contentsOf: utf8)
        }
        self.bytes = bytes
        self.storage = .allocate(capacity: max(bytes.count, 1))
        _ = storage.initialize(from: bytes)
    }

    deinit {
        storage.deallocate()
    }

    /// The server's ALPN callback: our preference order wins; no common name is a fatal
    /// `no_application_protocol` alert (RFC 7301), so a client never talks a protocol we did not choose.
    static let selectCallback:
        @convention(c) (
            OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
            UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?
        ) -> Int32 = { _, out, outLength, offered, offeredLength, argument in
            guard let argument, let out, let outLength, let offered else {
                return SSL_TLSEXT_ERR_ALERT_FATAL
            }
            let list = Unmanaged<ALPNWireList>.fromOpaque(argument).takeUnretainedValue()
            var selected: UnsafeMutablePointer<UInt8>?
            var selectedLength: UInt8 = 0
            let status = SSL_select_next_proto(
                &selected, &selectedLength, list.storage.baseAddress, UInt32(list.bytes.count), offered, offeredLength)
            guard status == OPENSSL_NPN_NEGOTIATED, let selected else {
                return SSL_TLSEXT_ERR_ALERT_FATAL
            }
            out.pointee = UnsafePointer(selected)
            outLength.pointee = selectedLength
            return SSL_TLSEXT_ERR_OK
        }
}
