import Foundation
import NumberTLS
import TestSupport
import Testing

/// `CertificateSummary` reads a certificate's validity and serial as the openssl CLI does, and
/// `CertificateAuthority.checkIssued` tells a certificate this CA issued (with its key) from one it did not.
@Suite("Certificate summary and issuer check")
struct CertificateSummaryTests {
    @Test("validity and serial agree with openssl x509")
    func agreesWithOpenSSL() throws {
        let now = Int64(Date().timeIntervalSince1970)
        let issued = try TestPKI.shared.authority.issueServerCertificate(validity: .days(40))
        let summary = try CertificateSummary(certificatePEM: issued.certificatePEM)
        #expect(abs(summary.notAfterSeconds - (now + 40 * 86_400)) <= 120)
        #expect(abs(summary.notBeforeSeconds - (now - 3600)) <= 120)
        #expect(summary.isValid(atSeconds: now))
        #expect(!summary.isValid(atSeconds: now + 41 * 86_400))
        #expect(summary.commonName == "localhost")

        let files = try PKIFiles(TestPKI.shared)
        defer { files.remove() }
        let path = files.directory + "/forty-days.pem"
        try issued.write(certificateTo: path, privateKeyTo: files.directory + "/forty-days.key")
        #expect(try Self.x509(path, ["-serial"]).output == "serial=\(summary.serialNumberHex)\n")
        // The end, as openssl reads it: still valid 39 days from now, not 41.
        #expect(try Self.x509(path, ["-checkend", "\(39 * 86_400)"]).status == 0)
        #expect(try Self.x509(path, ["-checkend", "\(41 * 86_400)"]).status == 1)
        let expired = try CertificateSummary(
            certificatePEM: TestPKI.shared.authority.issueServerCertificate(validity: .expired).certificatePEM)
        #expect(expired.notAfterSeconds < now)
    }

    @Test("a context reports the certificate it presents")
    func contextCertificate() throws {
        let context = try TLSContext(configuration: TestPKI.shared.serverConfiguration())
        let presented = try #require(context.certificate)
        #expect(presented == (try CertificateSummary(certificatePEM: TestPKI.shared.server.certificatePEM)))
        #expect(try TLSContext(configuration: TestPKI.shared.clientConfiguration()).certificate == nil)
    }

    @Test("checkIssued accepts the CA's own certificate with its key, and refuses another CA's or another key")
    func checkIssued() throws {
        let pki = TestPKI.shared
        try pki.authority.checkIssued(
            certificatePEM: pki.server.certificatePEM, privateKeyPEM: pki.server.privateKeyPEM)
        let foreign = try pki.otherAuthority.issueServerCertificate()
        let notOurs = #expect(throws: TLSError.self) {
            try pki.authority.checkIssued(certificatePEM: foreign.certificatePEM, privateKeyPEM: foreign.privateKeyPEM)
        }
        #expect(notOurs?.message.contains("not issued by this CA") == true, "\(String(describing: notOurs))")
        let otherKey = #expect(throws: TLSError.self) {
            try pki.authority.checkIssued(
                certificatePEM: pki.server.certificatePEM, privateKeyPEM: pki.client.privateKeyPEM)
        }
        #expect(otherKey?.message.contains("does not match") == true, "\(String(describing: otherKey))")
        #expect(throws: TLSError.self) {
            try pki.authority.checkIssued(
                certificatePEM: String(pki.server.certificatePEM.prefix(200)), privateKeyPEM: pki.server.privateKeyPEM)
        }
    }

    /// `openssl x509 -noout <arguments> -in path`: exit status and standard output.
    static func x509(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["x509", "-noout", "-in", path] + arguments
        process.standardInput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        let ending = ChildExit.waitBlocking(process, timeout: .seconds(30))
        return (ending?.status ?? -1, String(decoding: data, as: UTF8.self))
    }
}
