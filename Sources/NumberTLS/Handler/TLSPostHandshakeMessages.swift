import COpenSSL

/// Counts the handshake messages a server's peer sends after the handshake — TLS 1.3 KeyUpdates, TLS 1.2
/// renegotiation ClientHellos — since the last application data, so that a connection that sends nothing else fails
/// after ``withoutDataMax``.
///
/// OpenSSL 3.0 answers every KeyUpdate(update_requested) at once with one of its own and counts none (BoringSSL stops
/// at 32): one cost the server 18 µs of CPU against 0.5 µs for a one-byte record, so a client sending ~3 MB/s of them
/// on one connection held both cores, with no key, never closed. A renegotiation (refused: `SSL_OP_NO_RENEGOTIATION`)
/// is answered with a warning alert and the connection goes on: the same kind of free ping, only cheaper.
///
/// OpenSSL reports each message to ``callback`` (`SSL_set_msg_callback`), whose argument is this object; the
/// ``TLSConnection`` that owns it frees its `SSL` first. Confined to the connection's event loop, as the `SSL` is.
final class TLSPostHandshakeMessages {
    /// Messages accepted in a row without application data between them: BoringSSL's limit on KeyUpdates. A client
    /// that rekeys, even often, sends data between its updates.
    static let withoutDataMax = 32

    /// Whether the handshake is done: its own messages are not counted.
    private(set) var isCounting = false
    /// Messages received since the handshake or the last application data.
    private(set) var sinceData = 0

    /// The handshake completed: messages from now on are counted.
    func handshakeCompleted() {
        isCounting = true
    }

    /// Application data arrived: the count starts again.
    func applicationDataReceived() {
        sinceData = 0
    }

    /// The failure once more than ``withoutDataMax`` messages came without application data, else nil.
    var limitExceeded: TLSError? {
        guard sinceData > Self.withoutDataMax else { return nil }
        return TLSError(
            code: .protocolError,
            message: "the peer sent \(sinceData) handshake messages after the handshake (KeyUpdate, renegotiation) "
                + "without application data; at most \(Self.withoutDataMax) are accepted")
    }

    /// OpenSSL's message callback: counts each handshake message received (`write_p` 0, content type 22; the
    /// callback sees records' headers and inner content types too, under other content types).
    static let callback:
        @convention(c) (
            Int32, Int32, Int32, UnsafeRawPointer?, Int, OpaquePointer?, UnsafeMutableRawPointer?
        ) -> Void = { written, _, contentType, _, _, _, argument in
            guard written == 0, contentType == SSL3_RT_HANDSHAKE, let argument else { return }
            let messages = Unmanaged<TLSPostHandshakeMessages>.fromOpaque(argument).takeUnretainedValue()
            if messages.isCounting {
                messages.sinceData += 1
            }
        }
}
