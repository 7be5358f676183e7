import COpenSSL
import Dispatch
import NIOCore

/// One OpenSSL `SSL` object wired to two memory BIOs: ciphertext from the network goes into `input`,
/// ciphertext for the network comes out of `output`. Confined to its channel's event loop.
///
/// A memory BIO's buffer grows to the most it ever held and is never shrunk (OpenSSL's `BUF_MEM`), so ciphertext
/// passes through both a slice of ``bioSliceBytes`` at a time: each buffer stays about one record (21,876 bytes)
/// whatever the size of a write or a socket read, instead of keeping the largest one for the connection's life.
final class TLSConnection {
    /// The most plaintext given to one `SSL_write` and the most ciphertext written into the input BIO before OpenSSL
    /// takes it out: 16 KiB, one full record. Slicing costs nothing measurable (1 MiB written: 351–409 µs sliced,
    /// 356–436 µs whole), while dropping a grown buffer afterwards would cost 2.4–2.9 ms per large write, the buffer
    /// regrowing by 4/3 steps each time (`Benchmarks/MemoryBIO`, BENCHMARKS.md).
    static let bioSliceBytes = 16 * 1024

    /// The outcome of driving the handshake or a read.
    enum Step {
        /// Made progress and finished (handshake done).
        case complete
        /// Needs more bytes from the peer.
        case wantInput
        /// The peer sent `close_notify`.
        case closed
        /// Failed; the error queue has been drained into the error.
        case failed(TLSError)
    }

    let ssl: OpaquePointer
    private let input: OpaquePointer
    private let output: OpaquePointer
    /// Keeps the session sink alive as long as OpenSSL holds a raw pointer to it (app data).
    private let sessionSink: TLSSessionSink?
    /// A server's count of the handshake messages its peer sent after the handshake (KeyUpdates), which OpenSSL
    /// reports through the message callback (its argument: a raw pointer to this object, valid until `SSL_free`).
    let postHandshakeMessages = TLSPostHandshakeMessages()

    init(context: TLSContext, serverHostname: String?, sessionSink: TLSSessionSink?) throws {
        OpenSSLErrorQueue.clear()
        guard let ssl = SSL_new(context.pointer) else {
            throw OpenSSLErrorQueue.error(.invalidConfiguration, "SSL_new failed")
        }
        guard let input = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw OpenSSLErrorQueue.error(.invalidConfiguration, "cannot allocate memory BIOs")
        }
        guard let output = BIO_new(BIO_s_mem()) else {
            BIO_free(input)  // Not yet the SSL's.
            SSL_free(ssl)
            throw OpenSSLErrorQueue.error(.invalidConfiguration, "cannot allocate memory BIOs")
        }
        SSL_set_bio(ssl, input, output)  // The SSL owns both BIOs from here on.
        self.ssl = ssl
        self.input = input
        self.output = output
        self.sessionSink = sessionSink
        switch context.configuration.role {
        case .server:
            // A server only: numberd's clients send no KeyUpdate, and a server answers only those it is asked for.
            SSL_set_msg_callback(ssl, TLSPostHandshakeMessages.callback)
            _ = numberd_SSL_set_msg_callback_arg(ssl, Unmanaged.passUnretained(postHandshakeMessages).toOpaque())
            SSL_set_accept_state(ssl)
        case .client:
            try configureClient(hostname: serverHostname)
            SSL_set_connect_state(ssl)
        }
    }

    deinit {
        SSL_free(ssl)
    }

    /// Hostname verification (DNS name or IP address), SNI, and the stored session for resumption.
    private func configureClient(hostname: String?) throws {
        guard let hostname = TLSHostname(hostname) else {
            throw TLSError(
                code: .invalidConfiguration, message: "a TLS client needs a non-empty server hostname to verify")
        }
        switch hostname {
        case .ipAddress(let address):
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), address) == 1 else {
                throw OpenSSLErrorQueue.error(.invalidConfiguration, "invalid IP address \(address)")
            }
        case .dnsName(let name):
            // The name must be one of the certificate's DNS names: never its subject's CN, which OpenSSL would match
            // when it has none (a TLS review: a SAN-less certificate a private CA issued to another service for the
            // name would authenticate as numberd).
            SSL_set_hostflags(
                ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS) | UInt32(X509_CHECK_FLAG_NEVER_CHECK_SUBJECT))
            guard SSL_set1_host(ssl, name) == 1, numberd_SSL_set_tlsext_host_name(ssl, name) == 1 else {
                throw OpenSSLErrorQueue.error(.invalidConfiguration, "invalid server hostname \(name)")
            }
        }
        guard let sink = sessionSink else {
            return
        }
        _ = numberd_SSL_set_app_data(ssl, Unmanaged.passUnretained(sink).toOpaque())
        if let session = sink.cache.takeSession(for: sink) {
            _ = SSL_set_session(ssl, session.pointer)
        }
    }

    /// Hands ciphertext received from the network to OpenSSL: at most ``bioSliceBytes`` at a time (the caller
    /// slices), each read or handshaken before the next so that the input BIO holds no more than one slice.
    func feed(_ buffer: ByteBuffer) {
        assert(buffer.readableBytes <= Self.bioSliceBytes, "feed a slice at a time")
        buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let chunk = Int32(clamping: bytes.count - offset)
                let written = BIO_write(input, bytes.baseAddress! + offset, chunk)
                // A memory BIO only refuses a write when allocation fails; that is not recoverable.
                precondition(written > 0, "BIO_write to a memory BIO failed")
                offset += Int(written)
            }
        }
    }

    /// Advances the handshake as far as the input allows.
    func handshake() -> Step {
        OpenSSLErrorQueue.clear()
        let status = SSL_do_handshake(ssl)
        if status == 1 {
            storeResumedSession()
            postHandshakeMessages.handshakeCompleted(now: DispatchTime.now().uptimeNanoseconds)
            return .complete
        }
        return classify(status, during: "handshake")
    }

    /// Sends a TLS 1.3 KeyUpdate that asks the peer to update its keys too (into the output BIO), for tests of the
    /// peer's limit on such messages; false when OpenSSL refuses (TLS 1.2, handshake not done).
    func requestKeyUpdate() -> Bool {
        OpenSSLErrorQueue.clear()
        guard SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) == 1 else {
            OpenSSLErrorQueue.clear()
            return false
        }
        // SSL_key_update only schedules the message; the next handshake step writes it.
        _ = SSL_do_handshake(ssl)
        OpenSSLErrorQueue.clear()
        return true
    }

    /// Puts a resumed TLS 1.2 session back into the cache it was taken from. OpenSSL calls the new-session callback
    /// only after a full handshake under TLS 1.2 (`ssl_update_cache`: `!s->hit || TLS1.3`), so a session resumed
    /// there would never go back and only every other connection would resume. `SSL_get1_session` is the session as
    /// resumed, with the renewed ticket if the server sent one. TLS 1.3 needs nothing: each connection's fresh ticket
    /// reaches the callback.
    private func storeResumedSession() {
        guard let sink = sessionSink, SSL_session_reused(ssl) == 1, SSL_version(ssl) != TLS1_3_VERSION,
            let session = SSL_get1_session(ssl)
        else { return }
        guard SSL_SESSION_is_resumable(session) == 1 else {
            SSL_SESSION_free(session)
            return
        }
        sink.cache.store(TLSSession(session), from: sink)
    }

    /// Decrypts into `buffer` until it holds at most `chunkBytes` (the caller hands up a buffer that holds that many
    /// before reading more); `.complete` means bytes were appended. Records read one after another fill the space
    /// the first read sized from the ciphertext waiting (plaintext is never more than its ciphertext): the buffer
    /// grows only when more ciphertext arrived than that.
    func read(into buffer: inout ByteBuffer, chunkBytes: Int) -> Step {
        OpenSSLErrorQueue.clear()
        let inputBytes = Int(BIO_ctrl_pending(input)) + Int(SSL_pending(ssl))
        let room = max(1, chunkBytes - buffer.readableBytes)
        let capacity = buffer.writableBytes > 0 ? min(buffer.writableBytes, room) : max(1, min(room, inputBytes))
        var status: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { bytes in
            var count = 0
            status = SSL_read_ex(ssl, bytes.baseAddress, min(bytes.count, room), &count)
            return status == 1 ? count : 0
        }
        if status == 1 {
            return .complete
        }
        return classify(status, during: "read")
    }

    /// Encrypts all of `bytes` and appends the ciphertext to `ciphertext`: one `SSL_write` per slice of at most
    /// ``bioSliceBytes`` (one record), whose records are moved out of the output BIO before the next.
    func write(_ bytes: UnsafeRawBufferPointer, appendingTo ciphertext: inout ByteBuffer) -> TLSError? {
        var offset = 0
        while offset < bytes.count {
            let count = min(Self.bioSliceBytes, bytes.count - offset)
            OpenSSLErrorQueue.clear()
            var written = 0
            let status = SSL_write_ex(ssl, bytes.baseAddress! + offset, count, &written)
            guard status == 1, written == count else {
                if case .failed(let error) = classify(status, during: "write") {
                    return error
                }
                return OpenSSLErrorQueue.error(.protocolError, "SSL_write wrote \(written) of \(count) bytes")
            }
            drainOutput(appendingTo: &ciphertext)
            offset += count
        }
        return nil
    }

    /// Queues our `close_notify` alert.
    func shutdown() {
        OpenSSLErrorQueue.clear()
        _ = SSL_shutdown(ssl)
        OpenSSLErrorQueue.clear()
    }

    /// Ciphertext waiting to go to the network, if any.
    func drainOutput(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let pending = Int(BIO_ctrl_pending(output))
        guard pending > 0 else {
            return nil
        }
        var buffer = allocator.buffer(capacity: pending)
        drainOutput(appendingTo: &buffer)
        return buffer
    }

    /// Moves the ciphertext waiting in the output BIO to the end of `buffer`.
    func drainOutput(appendingTo buffer: inout ByteBuffer) {
        let pending = Int(BIO_ctrl_pending(output))
        guard pending > 0 else {
            return
        }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { bytes in
            let read = BIO_read(output, bytes.baseAddress, Int32(clamping: pending))
            return max(0, Int(read))
        }
    }

    /// Bytes allocated for the input and output memory BIOs' buffers (OpenSSL grows them and never shrinks them).
    var memoryBIOCapacities: (input: Int, output: Int) {
        (Int(numberd_BIO_mem_capacity(input)), Int(numberd_BIO_mem_capacity(output)))
    }

    /// Maps an OpenSSL failure status to a step, classifying certificate failures by the verify result.
    private func classify(_ status: Int32, during operation: String) -> Step {
        let reason = SSL_get_error(ssl, status)
        switch reason {
        case SSL_ERROR_WANT_READ:
            return .wantInput
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        default:
            return .failed(error(reason: reason, during: operation))
        }
    }

    private func error(reason: Int32, during operation: String) -> TLSError {
        let verifyResult = SSL_get_verify_result(ssl)
        if operation == "handshake", verifyResult != X509_V_OK {
            let text = String(cString: X509_verify_cert_error_string(verifyResult))
            return OpenSSLErrorQueue.error(
                .certificateVerificationFailed, "peer certificate rejected: \(text) (X509 error \(verifyResult))")
        }
        let code: TLSError.Code = operation == "handshake" ? .handshakeFailed : .protocolError
        var errors = OpenSSLErrorQueue.drain()
        if errors.isEmpty, reason == SSL_ERROR_SYSCALL {
            errors = ["unexpected end of input"]
        }
        return TLSError(code: code, message: "TLS \(operation) failed (SSL_get_error \(reason))", openSSLErrors: errors)
    }
}
