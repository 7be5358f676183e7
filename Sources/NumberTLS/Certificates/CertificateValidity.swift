/// When a generated certificate is valid, relative to the moment it is issued.
public struct CertificateValidity: Sendable, Hashable {
    /// Start of validity, seconds from now (negative: in the past, to tolerate clock skew).
    public var notBeforeOffsetSeconds: Int64
    /// End of validity, seconds from now.
    public var notAfterOffsetSeconds: Int64

    /// Creates a validity window; `notBefore` must not be after `notAfter`.
    public init(notBeforeOffsetSeconds: Int64, notAfterOffsetSeconds: Int64) {
        precondition(notBeforeOffsetSeconds <= notAfterOffsetSeconds, "validity ends before it starts")
        self.notBeforeOffsetSeconds = notBeforeOffsetSeconds
        self.notAfterOffsetSeconds = notAfterOffsetSeconds
    }

    private static let day: Int64 = 86_400

    /// Valid from an hour ago for `days` days.
    public static func days(_ days: Int) -> CertificateValidity {
        CertificateValidity(notBeforeOffsetSeconds: -3600, notAfterOffsetSeconds: Int64(days) * day)
    }

    /// Leaf certificates: 398 days, the CA/Browser Forum maximum.
    public static let leafDefaults = days(398)
    /// Local certificate authorities: 10 years.
    public static let authorityDefaults = days(3650)
    /// How long before its end a generated certificate or CA is replaced: 30 days
    /// (``CertificateSummary/endsWithin(_:ofSeconds:)``).
    public static let renewalWindowSeconds: Int64 = 30 * day
    /// Expired yesterday (for tests of refusal).
    public static let expired = CertificateValidity(notBeforeOffsetSeconds: -30 * day, notAfterOffsetSeconds: -day)
    /// Valid only from tomorrow (for tests of refusal).
    public static let notYetValid = CertificateValidity(notBeforeOffsetSeconds: day, notAfterOffsetSeconds: 30 * day)
}
