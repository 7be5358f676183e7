import Logging
import NumberTLS
import Synchronization

/// The in-process Twilio simulator's TLS certificate (the default run's provider): issued at start from the data
/// directory's local CA, which the Twilio adapter trusts (`tls/ca.pem`), and re-issued from the same CA by the server
/// certificate's check (hourly, and at SIGHUP) once within ``renewalWindowSeconds`` of its end, expired or not valid
/// yet. Issued once, it expired after 398 days of uptime, and from then on every provider call of the default run
/// failed verification.
///
/// The simulator's listener reads ``context`` for each connection it accepts: a renewed certificate reaches the
/// adapter's next connection, and open ones keep theirs. It lives in memory only: a start issues a fresh one.
final class SimulatorCertificate: Sendable {
    /// What the simulator presents to new connections.
    let context: ReloadableTLSContext
    private let directory: DataDirectory
    /// How long before its end the certificate is re-issued: the server certificate's window (30 days).
    let renewalWindowSeconds: Int64
    /// How long each certificate issued is valid.
    private let validity: CertificateValidity
    private let logger: Logger
    /// Held by a check: the hourly one and a SIGHUP's must not both re-issue.
    private let checking = Mutex(())

    /// Issues the first certificate from the CA in `directory` (call once the server certificate's start-up check
    /// made sure the CA is there).
    init(
        directory: DataDirectory, logger: Logger,
        renewalWindowSeconds: Int64 = NumberdConfiguration.certificateRenewalWindowSeconds,
        validity: CertificateValidity = .leafDefaults
    ) throws {
        self.directory = directory
        self.logger = logger
        self.renewalWindowSeconds = renewalWindowSeconds
        self.validity = validity
        self.context = ReloadableTLSContext(try Self.issue(from: directory, validity: validity))
    }

    /// A server context for `twilio-sim` (and `localhost`, `127.0.0.1`, `::1`) with a certificate issued now by the CA
    /// in `directory`, offering ALPN `http/1.1`.
    private static func issue(from directory: DataDirectory, validity: CertificateValidity) throws -> TLSContext {
        let issued = try directory.authority().issueServerCertificate(commonName: "twilio-sim", validity: validity)
        var tls = TLSConfiguration.server(certificateChain: issued.certificateChain, privateKey: issued.privateKey)
        tls.applicationProtocols = ["http/1.1"]
        return try TLSContext(configuration: tls)
    }

    /// Re-issues the certificate from the CA when it is due at `nowSeconds` (seconds since 1970); whether it did.
    /// Throws when the CA cannot be read (the certificate served stays).
    func check(nowSeconds: Int64) throws -> Bool {
        try checking.withLock { _ in
            guard let served = context.current.certificate,
                let problem = GeneratedCertificates.timeProblem(
                    served, nowSeconds: nowSeconds, windowSeconds: renewalWindowSeconds)
            else { return false }
            let fresh = try Self.issue(from: directory, validity: validity)
            context.replace(with: fresh)
            let notAfter = fresh.certificate.map { GeneratedCertificates.timestamp($0.notAfterSeconds) } ?? "?"
            logger.notice(
                "renewed the in-process Twilio simulator's certificate from the local CA",
                metadata: [
                    "reason": "\(problem)", "serial": "\(fresh.certificate?.serialNumberHex ?? "?")",
                    "not_after": "\(notAfter)",
                ])
            return true
        }
    }
}
