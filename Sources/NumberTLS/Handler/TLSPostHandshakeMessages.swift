import COpenSSL
import Dispatch

/// A budget for the handshake messages a server's peer sends after the handshake — TLS 1.3 KeyUpdates, TLS 1.2
/// renegotiation ClientHellos: ``burstMax`` at once, one more earned back per ``refillNanoseconds`` (a second), whatever
/// else the connection carries; past it the connection fails.
///
/// OpenSSL 3.0 answers every KeyUpdate(update_requested) at once with one of its own and counts none (BoringSSL stops
/// at 32): one cost the server 18 µs of CPU against 0.5 µs for a one-byte record, so a client sending ~3 MB/s of them
/// on one connection held both cores, with no key, never closed. A renegotiation (refused: `SSL_OP_NO_RENEGOTIATION`)
/// is answered with a warning alert and the connection goes on: the same kind of free ping, only cheaper. A count that
/// application data reset was no bound: 32 updates and a byte, over and over, cost the server as much as before. A
/// client that rekeys for its own safety does so after gigabytes or hours, far below a message a second.
///
/// OpenSSL reports each message to ``callback`` (`SSL_set_msg_callback`), whose argument is this object; the
/// ``TLSConnection`` that owns it frees its `SSL` first. Confined to the connection's event loop, as the `SSL` is.
final class TLSPostHandshakeMessages {
    /// Messages accepted at once: BoringSSL's limit on KeyUpdates in a row.
    static let burstMax = 32
    /// One message earned back per this many nanoseconds (a second).
    static let refillNanoseconds: UInt64 = 1_000_000_000

    /// Whether the handshake is done: its own messages are not counted.
    private(set) var isCounting = false
    /// Messages the peer may still send now.
    private(set) var allowance = burstMax
    /// When the allowance was last topped up, in `DispatchTime` nanoseconds.
    private var refilledAt: UInt64 = 0
    /// Set by the first message past the allowance.
    private(set) var exceeded = false

    /// The handshake completed at `now` (nanoseconds of a monotonic clock): messages from now on are counted.
    func handshakeCompleted(now: UInt64) {
        isCounting = true
        refilledAt = now
    }

    /// A handshake message arrived at `now`: it takes one from the allowance, topped up first by the time passed.
    func received(now: UInt64) {
        guard isCounting else { return }
        let earned = now > refilledAt ? (now - refilledAt) / Self.refillNanoseconds : 0
        if earned > 0 {
            allowance = Int(min(UInt64(Self.burstMax), UInt64(allowance) + earned))
            refilledAt += earned * Self.refillNanoseconds
        }
        if allowance == 0 {
            exceeded = true
        } else {
            allowance -= 1
        }
    }

    /// The failure once a message came past the allowance, else nil.
    var limitExceeded: TLSError? {
        guard exceeded else { return nil }
        return TLSError(
            code: .protocolError,
            message: "the peer sent more handshake messages after the handshake (KeyUpdate, renegotiation) than "
                + "\(Self.burstMax) at once and one a second")
    }

    /// OpenSSL's message callback: counts each handshake message received (`write_p` 0, content type 22; the
    /// callback sees records' headers and inner content types too, under other content types). Past the allowance it
    /// empties the connection's input BIO: OpenSSL handles post-handshake messages inside one `SSL_read_ex` record
    /// after record (`SSL_MODE_AUTO_RETRY`), so the limit, checked when the call returns, let a 16 KiB slice of
    /// 27-byte KeyUpdate records — ~600 — be answered in one call (a TLS review). With nothing left to read, OpenSSL
    /// returns after the message at hand, and the handler fails the connection.
    static let callback:
        @convention(c) (
            Int32, Int32, Int32, UnsafeRawPointer?, Int, OpaquePointer?, UnsafeMutableRawPointer?
        ) -> Void = { written, _, contentType, _, _, ssl, argument in
            guard written == 0, contentType == SSL3_RT_HANDSHAKE, let argument else { return }
            let messages = Unmanaged<TLSPostHandshakeMessages>.fromOpaque(argument).takeUnretainedValue()
            messages.received(now: DispatchTime.now().uptimeNanoseconds)
            if messages.exceeded, let ssl, let input = SSL_get_rbio(ssl) {
                _ = BIO_ctrl(input, BIO_CTRL_RESET, 0, nil)
            }
        }
}
