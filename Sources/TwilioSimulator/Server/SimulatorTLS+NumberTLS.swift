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

    /// Generates a local CA and a server certificate for `localhost`/`127.0.0.1`/`::1` (plus `dnsNames`), writes
    /// the CA certificate to `directory/twilio-sim-ca.pem` (created if missing) and serves with the leaf.
    public static func generated(directory: String, dnsNames: [String] = []) throws -> SimulatorTLS {
        let authority = try CertificateAuthority.generate(commonName: "twilio-sim local CA")
        let server = try authority.issueServerCertificate(dnsNames: dnsNames)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let caPath = (directory as NSString).appendingPathComponent("twilio-sim-ca.pem")
        try Data(authority.certificatePEM.utf8).write(to: URL(fileURLWithPath: caPath), options: .atomic)
        var configuration = TLSConfiguration.server(
            certificateChain: server.certificateChain, privateKey: server.privateKey)
        configuration.applicationProtocols = ["http/1.1"]
        return numberTLS(context: try TLSContext(configuration: configuration), caPEMPath: caPath)
    }
}
