import COpenSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a certificate says about itself that decides whether it is still usable: its validity period, read with
/// OpenSSL, and its serial number and fingerprint to tell one issue from the next.
///
/// ```swift
/// let summary = try CertificateSummary(certificatePEM: String(contentsOfFile: "server.pem", encoding: .utf8))
/// if summary.notAfterSeconds - nowSeconds < 30 * 86_400 { /* renew */ }
/// ```
public struct CertificateSummary: Sendable, Hashable {
    /// Start of validity, seconds since 1970-01-01 UTC.
    public var notBeforeSeconds: Int64
    /// End of validity (the last valid second), seconds since 1970-01-01 UTC.
    public var notAfterSeconds: Int64
    /// The serial number in uppercase hexadecimal, as `openssl x509 -serial` prints it (without `serial=`).
    public var serialNumberHex: String
    /// SHA-256 of the DER encoding, lowercase hex (as ``TLSPeerIdentity/sha256Fingerprint``).
    public var sha256Fingerprint: String
    /// The subject common name, if any.
    public var commonName: String?

    /// Reads the first certificate of `certificatePEM` (a chain's leaf); throws when there is none.
    public init(certificatePEM: String) throws {
        let certificates = try PEM.certificates(.pem(certificatePEM))
        defer { certificates.forEach { X509_free($0) } }
        try self.init(certificates[0])
    }

    /// Reads a parsed certificate (borrowed, not freed).
    init(_ certificate: OpaquePointer) throws {
        notBeforeSeconds = try Self.seconds(X509_get0_notBefore(certificate), what: "notBefore")
        notAfterSeconds = try Self.seconds(X509_get0_notAfter(certificate), what: "notAfter")
        serialNumberHex = try Self.serialHex(certificate)
        sha256Fingerprint = X509Inspection.fingerprint(certificate)
        commonName = X509Inspection.commonName(certificate)
    }

    /// Whether the certificate is valid at `nowSeconds` (inside `notBefore...notAfter`).
    public func isValid(atSeconds nowSeconds: Int64) -> Bool {
        // Not a range: a certificate whose dates are inverted (valid nowhere) must not trap.
        notBeforeSeconds <= nowSeconds && nowSeconds <= notAfterSeconds
    }

    /// Whether the certificate has ended at `nowSeconds`, or ends less than `windowSeconds` after it: the rule by which
    /// a generated certificate or CA (numberd's, and twilio-sim's CA) is replaced before it stops working.
    public func endsWithin(_ windowSeconds: Int64, ofSeconds nowSeconds: Int64) -> Bool {
        notAfterSeconds - nowSeconds < windowSeconds
    }

    private static func seconds(_ time: UnsafePointer<ASN1_TIME>?, what: String) throws -> Int64 {
        var broken = tm()
        guard let time, ASN1_TIME_to_tm(time, &broken) == 1 else {
            throw OpenSSLErrorQueue.error(.certificateTooling, "cannot read the certificate's \(what)")
        }
        return Int64(timegm(&broken))
    }

    private static func serialHex(_ certificate: OpaquePointer) throws -> String {
        guard let number = ASN1_INTEGER_to_BN(X509_get_serialNumber(certificate), nil) else {
            throw OpenSSLErrorQueue.error(.certificateTooling, "cannot read the certificate's serial number")
        }
        defer { BN_free(number) }
        guard let hex = BN_bn2hex(number) else {
            throw OpenSSLErrorQueue.error(.certificateTooling, "cannot print the certificate's serial number")
        }
        defer { numberd_OPENSSL_free(hex) }
        return String(cString: hex)
    }
}
