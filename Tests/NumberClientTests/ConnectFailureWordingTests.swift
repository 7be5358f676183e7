import Glibc
import NIOCore
import NumberTLS
import Testing

@testable import NumberClient

/// Why a connect failed, in the words the CLI prints: found walking the CLI, a TLS failure and a failed name look-up
/// began with the Swift type's name (`TLSError.certificateVerificationFailed: …`, `SocketAddressError.UnknownHost: …`).
@Suite("Connect failures in words")
struct ConnectFailureWordingTests {
    @Test("a TLS failure is its message and OpenSSL's reasons, without the type's name")
    func tlsFailure() {
        let error = TLSError(
            code: .certificateVerificationFailed, message: "peer certificate rejected",
            openSSLErrors: ["certificate verify failed"])
        let text = NumbersClient.connectFailure(error)
        #expect(text == "peer certificate rejected [certificate verify failed]", "\(text)")
        #expect(!text.contains("TLSError"))
    }

    @Test("an I/O error is the system's words for its errno")
    func ioError() {
        #expect(NumbersClient.systemReason(IOError(errnoCode: ECONNREFUSED, reason: "connect")) == "Connection refused")
    }
}
