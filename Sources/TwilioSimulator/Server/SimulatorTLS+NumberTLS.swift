import Foundation
import NIOCore
import NumberTLS

/// HTTPS for the simulator through `NumberTLS` (OpenSSL): from PEM files, or from a freshly generated local CA.
extension SimulatorTLS {
    /// TLS with a compiled server context; `caPEMPath` is what clients should trust.
    public static func numberTLS(context: TLSContext, caPEMPath: String?) -> SimulatorTLS {
        SimulatorTLS(caPEMPath: caPEMPath) { channel in
            try channel.pipeline.syncOperations.addTLSServerHandler(context: context)
        }
    }

    /// TLS with the server context `reloadable` holds when a connection is accepted: replacing it (a renewed
    /// certificate) changes what new connections get; open ones keep theirs.
    public static func numberTLS(reloadable: ReloadableTLSContext, caPEMPath: String?) -> SimulatorTLS {
        SimulatorTLS(caPEMPath: caPEMPath) { channel in
            try channel.pipeline.syncOperations.addTLSServerHandler(context: reloadable.current)
        }
    }

    /// TLS with a certificate chain and key from PEM files (leaf first), offering ALPN `http/1.1`.
    public static func files(
        certificatePath: String, privateKeyPath: String, caPEMPath: String?
    ) throws
        -> SimulatorTLS
    {
        var configuration = TLSConfiguration.server(
            certificateChain: .file(certificatePath), privateKey: .file(privateKeyPath))
        configuration.applicationProtocols = ["http/1.1"]
        return numberTLS(context: try TLSContext(configuration: configuration), caPEMPath: caPEMPath)
    }

    /// The CA certificate ``generated(directory:dnsNames:)`` keeps in its directory: what clients trust.
    static let generatedAuthorityFileName = "twilio-sim-ca.pem"
    /// The CA's private key beside it (mode 0600).
    static let generatedAuthorityKeyFileName = "twilio-sim-ca-key.pem"

    /// Serves with a server certificate for `localhost`/`127.0.0.1`/`::1` (plus `dnsNames`) issued now by a local CA
    /// kept in `directory` (created if missing): `twilio-sim-ca.pem` and its key `twilio-sim-ca-key.pem`. A restart
    /// keeps the CA, so clients that trust it reach the restarted simulator (a copied or pinned CA file; a numberd
    /// before its libcurl read the file for each connection, which cached it a day, could not reach a new one). A
    /// new CA is made, and both files written, only when one is missing, they do not read or match, or the CA ends
    /// within `CertificateValidity.renewalWindowSeconds` (30 days), as numberd replaces its own local CA at start.
    public static func generated(directory: String, dnsNames: [String] = []) throws -> SimulatorTLS {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let caPath = (directory as NSString).appendingPathComponent(generatedAuthorityFileName)
        let keyPath = (directory as NSString).appendingPathComponent(generatedAuthorityKeyFileName)
        let authority: CertificateAuthority
        if let kept = keptAuthority(certificatePath: caPath, privateKeyPath: keyPath) {
            authority = kept
        } else {
            authority = try CertificateAuthority.generate(commonName: "twilio-sim local CA")
            try authority.write(certificateTo: caPath, privateKeyTo: keyPath)
        }
        let server = try authority.issueServerCertificate(dnsNames: dnsNames)
        var configuration = TLSConfiguration.server(
            certificateChain: server.certificateChain, privateKey: server.privateKey)
        configuration.applicationProtocols = ["http/1.1"]
        return numberTLS(context: try TLSContext(configuration: configuration), caPEMPath: caPath)
    }

    /// The CA in the two files when both read, the key matches and the CA does not end within the renewal window;
    /// nil otherwise (a first start, a CA written before its key was kept, or one due for replacement).
    private static func keptAuthority(certificatePath: String, privateKeyPath: String) -> CertificateAuthority? {
        guard let certificatePEM = try? String(contentsOfFile: certificatePath, encoding: .utf8),
            let privateKeyPEM = try? String(contentsOfFile: privateKeyPath, encoding: .utf8),
            let authority = try? CertificateAuthority(certificatePEM: certificatePEM, privateKeyPEM: privateKeyPEM),
            let summary = try? CertificateSummary(certificatePEM: certificatePEM)
        else { return nil }
        let nowSeconds = Int64(Date().timeIntervalSince1970)
        return summary.endsWithin(CertificateValidity.renewalWindowSeconds, ofSeconds: nowSeconds) ? nil : authority
    }
}
