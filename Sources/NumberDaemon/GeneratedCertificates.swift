import Foundation
import NumberTLS

/// The TLS material numberd makes for itself in the data directory's `tls/`: a local CA (`ca.pem`, `ca-key.pem`) and
/// a server certificate it issued (`server.pem`, `server-key.pem`), kept usable.
///
/// ``ensure(nowSeconds:mayRegenerateAuthority:)`` re-issues the server certificate from the same CA — so clients that
/// trust `ca.pem` keep working — when it is expired, not yet valid, within ``renewalWindowSeconds`` of its end, not
/// issued by the CA, not matching its key, or unreadable (a file missing, truncated, not PEM). A CA that is unreadable,
/// expired or near its end is replaced with the whole set (clients must then trust the new `ca.pem`); only at start,
/// where nothing is being served from it yet. While serving, a missing or unreadable CA throws (the periodic check
/// logs it) and nothing is written; one near its end is reported in ``Check/authorityProblem``. A sound `ca.pem` whose
/// key is missing or encrypted (moved offline) is kept, with the server certificate it issued, while that one is
/// valid and the key is not needed (``authorityKeyNeeded``), reported in ``Check/authorityProblem`` at every check.
/// Call it only with the data directory's lock held (the store's), so two numberd starting at once cannot mix the
/// files of two CAs.
///
/// A renewal that cannot be written (a full disk) of material that is still valid — a certificate or CA only within
/// the renewal window, its pair on disk matching — keeps it, reported in ``Check/renewalFailure``: a restart on a full
/// disk used to fail there, though the pair on disk had up to 30 days left. The files of a renewal are all written
/// and synced before any replaces the old one, so a failed write leaves the old set whole.
struct GeneratedCertificates: Sendable {
    /// The data directory's layout.
    let directory: DataDirectory
    /// How long before its end a certificate is replaced.
    let renewalWindowSeconds: Int64
    /// Whether the CA's key must be at hand for what this numberd issues at every start: the in-process simulator's
    /// certificate. Without that, a CA whose key is missing or encrypted (moved offline by an operator) is kept while
    /// the server certificate it issued is still valid, with a warning at every check, instead of being replaced by a
    /// new CA that no client trusts.
    var authorityKeyNeeded = true

    /// What a check did.
    enum Action: Sendable, Hashable {
        /// Everything was usable, or a renewal could not be written while what is on disk still serves
        /// (``Check/renewalFailure``); nothing written.
        case kept
        /// There was no CA: a new CA and server certificate were made (a first start).
        case created
        /// The server certificate was re-issued from the existing CA.
        case renewedServer
        /// The CA could not be used: a new CA and server certificate replace the old ones.
        case regeneratedAuthority
    }

    /// The outcome of a check.
    struct Check: Sendable, Hashable {
        /// What was done.
        var action: Action
        /// Why a certificate was replaced (nil when kept or created).
        var reason: String?
        /// A reason the CA should be replaced that this check was not allowed to act on (at runtime), or failed to.
        var authorityProblem: String?
        /// Why a renewal that was due failed (the error writing the files), when the material on disk was kept
        /// because it is still valid and matches; nil otherwise.
        var renewalFailure: String?
        /// The server certificate on disk after the check.
        var server: CertificateSummary
        /// The CA on disk after the check.
        var authority: CertificateSummary
    }

    /// Checks the files and replaces what is not usable at `nowSeconds` (seconds since 1970).
    func ensure(nowSeconds: Int64, mayRegenerateAuthority: Bool) throws -> Check {
        let loaded = loadAuthority(nowSeconds: nowSeconds)
        switch loaded {
        case .missing:
            // While serving, a new CA would not be trusted by the clients (nor by the Twilio adapter, which trusts the
            // in-process simulator's certificate through the CA it was issued from): only a restart makes one.
            guard mayRegenerateAuthority else {
                throw TLSError(
                    code: .certificateTooling,
                    message: "the local CA is missing (\(directory.caCertificate) and its key were deleted): "
                        + Self.restartAdvice)
            }
            return try regenerate(action: .created, reason: nil)
        case .keyUnusable(let certificatePEM, let summary, let reason):
            if !authorityKeyNeeded, let kept = keptWithoutKey(certificatePEM, summary, reason, nowSeconds: nowSeconds) {
                return kept
            }
            guard mayRegenerateAuthority else {
                throw TLSError(
                    code: .certificateTooling,
                    message: "the local CA's key \(reason), and the server certificate needs it: " + Self.restartAdvice)
            }
            return try regenerate(action: .regeneratedAuthority, reason: "the local CA's key " + reason)
        case .unusable(let reason):
            guard mayRegenerateAuthority else {
                throw TLSError(
                    code: .certificateTooling, message: "the local CA cannot be used: \(reason); " + Self.restartAdvice)
            }
            return try regenerate(action: .regeneratedAuthority, reason: "the local CA " + reason)
        case .usable(let authority, let summary, let due):
            // A CA "not valid yet" means this machine's clock is behind the one that made it (a clock skewed at boot):
            // a new CA would make every client trust a new ca.pem, and be replaced again once the clock is right.
            // It is kept, and reported.
            let clockBehind = nowSeconds < summary.notBeforeSeconds
            var failure: String?
            if let due, mayRegenerateAuthority, !clockBehind {
                do {
                    return try regenerate(action: .regeneratedAuthority, reason: "the local CA " + due)
                } catch {
                    // Nothing was replaced (the four files are renamed only once all are written): a CA that is only
                    // within its renewal window still issues and verifies, so a full disk does not stop the start.
                    guard Self.timeProblem(summary, nowSeconds: nowSeconds, windowSeconds: 0) == nil else {
                        throw error
                    }
                    failure = "replacing the local CA failed: \(error)"
                }
            }
            var check = try ensureServer(authority: authority, authoritySummary: summary, nowSeconds: nowSeconds)
            check.authorityProblem = due.map {
                "the local CA " + $0 + (clockBehind ? "; this machine's clock looks behind, so the CA is kept" : "")
            }
            if let failure {
                check.renewalFailure = [failure, check.renewalFailure].compactMap { $0 }.joined(separator: "; ")
            }
            return check
        }
    }

    /// Why a certificate valid `summary` is not usable at `nowSeconds` with `windowSeconds` of margin, or nil.
    static func timeProblem(_ summary: CertificateSummary, nowSeconds: Int64, windowSeconds: Int64) -> String? {
        if nowSeconds < summary.notBeforeSeconds {
            return "is not valid yet (from \(timestamp(summary.notBeforeSeconds)))"
        }
        if nowSeconds > summary.notAfterSeconds {
            return "expired at \(timestamp(summary.notAfterSeconds))"
        }
        if summary.endsWithin(windowSeconds, ofSeconds: nowSeconds) {
            return "expires at \(timestamp(summary.notAfterSeconds)), within the renewal window"
        }
        return nil
    }

    /// What a check while serving says about a CA it may not replace.
    static let restartAdvice =
        "nothing was written and the served certificate is unchanged; restart numberd to generate a new CA, then "
        + "clients must trust the new ca.pem"

    /// `2025-01-31T12:00:00Z`.
    static func timestamp(_ seconds: Int64) -> String {
        Date(timeIntervalSince1970: TimeInterval(seconds)).ISO8601Format()
    }

    private enum LoadedAuthority {
        case missing
        case unusable(String)
        /// `ca.pem` is sound, its key missing or encrypted (why, in words).
        case keyUnusable(certificatePEM: String, CertificateSummary, String)
        case usable(CertificateAuthority, CertificateSummary, due: String?)
    }

    private func loadAuthority(nowSeconds: Int64) -> LoadedAuthority {
        let manager = FileManager.default
        if !manager.fileExists(atPath: directory.caCertificate), !manager.fileExists(atPath: directory.caKey) {
            return .missing
        }
        let authority: CertificateAuthority
        let summary: CertificateSummary
        do {
            authority = try directory.authority()
            summary = try CertificateSummary(certificatePEM: authority.certificatePEM)
        } catch {
            // A sound ca.pem whose key is gone or encrypted: the operator's doing, not a crash's (a crash between a
            // regeneration's renames leaves a key that does not match, or no server certificate the CA issued).
            if let certificatePEM = try? directory.pem(directory.caCertificate),
                let summary = try? CertificateSummary(certificatePEM: certificatePEM)
            {
                if !manager.fileExists(atPath: directory.caKey) {
                    return .keyUnusable(certificatePEM: certificatePEM, summary, "(\(directory.caKey)) is missing")
                }
                if let key = try? directory.pem(directory.caKey), key.contains("ENCRYPTED") {
                    return .keyUnusable(certificatePEM: certificatePEM, summary, "(\(directory.caKey)) is encrypted")
                }
            }
            return .unusable("is unreadable (\(error))")
        }
        let due = Self.timeProblem(summary, nowSeconds: nowSeconds, windowSeconds: renewalWindowSeconds)
        return .usable(authority, summary, due: due)
    }

    /// The server pair kept while the CA's key `reason` (missing, encrypted): when the CA is still valid and the pair
    /// on disk is the CA's, matching and valid now, with the problem said at every check; nil when it cannot serve.
    private func keptWithoutKey(
        _ authorityPEM: String, _ authority: CertificateSummary, _ reason: String, nowSeconds: Int64
    ) -> Check? {
        guard Self.timeProblem(authority, nowSeconds: nowSeconds, windowSeconds: 0) == nil,
            let certificatePEM = try? directory.pem(directory.serverCertificate),
            let privateKeyPEM = try? directory.pem(directory.serverKey),
            let server = try? CertificateSummary(certificatePEM: certificatePEM),
            (try? CertificateAuthority.checkIssued(
                certificatePEM: certificatePEM, privateKeyPEM: privateKeyPEM, by: authorityPEM)) != nil,
            Self.timeProblem(server, nowSeconds: nowSeconds, windowSeconds: 0) == nil
        else { return nil }
        let due = Self.timeProblem(server, nowSeconds: nowSeconds, windowSeconds: renewalWindowSeconds)
        return Check(
            action: .kept,
            authorityProblem: "the local CA's key \(reason): the server certificate it issued (ending "
                + "\(Self.timestamp(server.notAfterSeconds))\(due == nil ? "" : ", due for renewal now")) cannot be "
                + "renewed; put the key back before then, or remove ca.pem too and restart to have a new CA made "
                + "(clients must then trust the new ca.pem)",
            server: server, authority: authority)
    }

    private func ensureServer(
        authority: CertificateAuthority, authoritySummary: CertificateSummary, nowSeconds: Int64
    ) throws -> Check {
        let reason: String
        // The pair on disk when it matches, is this CA's and is valid now (only within the renewal window).
        var servable: CertificateSummary?
        do {
            let certificatePEM = try directory.pem(directory.serverCertificate)
            let privateKeyPEM = try directory.pem(directory.serverKey)
            let summary = try CertificateSummary(certificatePEM: certificatePEM)
            try authority.checkIssued(certificatePEM: certificatePEM, privateKeyPEM: privateKeyPEM)
            guard
                let problem = Self.timeProblem(summary, nowSeconds: nowSeconds, windowSeconds: renewalWindowSeconds)
            else {
                return Check(action: .kept, server: summary, authority: authoritySummary)
            }
            reason = "the server certificate " + problem
            if Self.timeProblem(summary, nowSeconds: nowSeconds, windowSeconds: 0) == nil { servable = summary }
        } catch {
            reason = "the server certificate is unusable (\(error))"
        }
        do {
            let issued = try authority.issueServerCertificate(commonName: "localhost")
            try issued.write(certificateTo: directory.serverCertificate, privateKeyTo: directory.serverKey)
            return Check(
                action: .renewedServer, reason: reason,
                server: try CertificateSummary(certificatePEM: issued.certificatePEM),
                authority: authoritySummary)
        } catch {
            // The pair on disk is whole (written together, or not at all) and still serves: kept, said at error.
            guard let servable else { throw error }
            return Check(
                action: .kept, reason: reason, renewalFailure: "renewing the server certificate failed: \(error)",
                server: servable, authority: authoritySummary)
        }
    }

    private func regenerate(action: Action, reason: String?) throws -> Check {
        // Loopback only: every certificate it issues is for localhost (numberd's own, the in-process simulator's).
        let authority = try CertificateAuthority.generate(commonName: "numberd local CA", loopbackOnly: true)
        let issued = try authority.issueServerCertificate(commonName: "localhost")
        // Four files, all written and synced before the first replaces the old one: a write that fails (a full disk)
        // leaves the old set whole. A crash (or a failed rename) between two renames leaves a CA whose key does not
        // match it, or a server certificate the new CA did not issue, and the next start replaces what does not fit.
        try PEMFile.write(
            PEMFile.pair(
                certificatePEM: authority.certificatePEM, to: directory.caCertificate,
                privateKeyPEM: authority.privateKeyPEM, to: directory.caKey)
                + PEMFile.pair(
                    certificatePEM: issued.certificatePEM, to: directory.serverCertificate,
                    privateKeyPEM: issued.privateKeyPEM, to: directory.serverKey))
        return Check(
            action: action, reason: reason, server: try CertificateSummary(certificatePEM: issued.certificatePEM),
            authority: try CertificateSummary(certificatePEM: authority.certificatePEM))
    }
}
