import Foundation
import NumberDaemon
import NumberTLS
import Testing

/// The admin key's secret on standard output only when someone is at a terminal: under systemd or Docker standard
/// output goes to the journal or the container's log, which others read and which is shipped elsewhere. Before,
/// every first start (and every start that replaced a revoked or removed `admin.key`) printed it there.
@Suite("numberd: the admin key on standard output")
struct AdminKeyOutputTests {
    @Test("standard output a pipe: the key's id and the file that holds it, not the secret")
    func pipe() async throws {
        let child = try ServingChild()
        try await child.waitUntilServing()
        let secret = try String(contentsOfFile: child.dataDirectory + "/admin.key", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let output = child.standardOutput
        await child.stop()
        #expect(secret.hasPrefix("nk_"))
        #expect(!output.contains(secret), "\(output)")
        #expect(output.contains("created an admin key KEY_"), "\(output)")
        #expect(output.contains(child.dataDirectory + "/admin.key"), "\(output)")
    }

    @Test("standard output a terminal (swift run numberd in a shell): the secret is shown, as the README says")
    func terminal() async throws {
        let child = try ServingChild(terminal: true)
        try await child.waitUntilServing()
        let secret = try String(contentsOfFile: child.dataDirectory + "/admin.key", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let output = child.standardOutput
        await child.stop()
        #expect(output.contains("created an admin key (shown once"), "\(output)")
        #expect(output.contains(secret), "\(output)")
    }

    @Test("a start that replaces a revoked admin key prints its secret only to a terminal")
    func replacedKey() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-banner-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = NumberdConfiguration(dataDirectory: directory)
        configuration.listen.port = 0
        configuration.metricsListen = nil
        var numberd = try await Numberd.prepare(configuration, logger: quietLogger)
        let first = try #require(numberd.createdAdminKey)
        _ = try await numberd.service.revokeApiKey(keyId: first.id, leavingNoAdminKey: true)
        await numberd.close()
        numberd = try await Numberd.prepare(configuration, logger: quietLogger)
        let created = try #require(numberd.createdAdminKey, "the revoked key is replaced")
        await numberd.close()
        let logged = numberd.banner(listen: configuration.listen, standardOutputIsTerminal: false)
        #expect(!logged.contains(created.secret), "\(logged)")
        #expect(logged.contains(created.id) && logged.contains(numberd.dataDirectory.adminKeyFile), "\(logged)")
        #expect(numberd.banner(listen: configuration.listen, standardOutputIsTerminal: true).contains(created.secret))
    }

    /// Serving the operator's `--tls-cert`, the banner still told clients to trust the data directory's `tls/ca.pem`,
    /// which did not issue that certificate (it exists only for the in-process simulator): a client following it failed
    /// its handshake. It now names the CA that issued the file; generated certificates keep the data directory's CA.
    @Test("serving --tls-cert, the banner names the CA that issued that file, not the data directory's ca.pem")
    func operatorCertificate() async throws {
        let files = try CertificateRenewalTests.OperatorFiles(validity: .leafDefaults)
        defer { try? FileManager.default.removeItem(atPath: files.folder) }
        var configuration = NumberdConfiguration(dataDirectory: files.folder + "/data")
        configuration.listen.port = 0
        configuration.metricsListen = nil
        configuration.tlsCertificate = (files.chain, files.key)
        let numberd = try await Numberd.prepare(configuration, logger: quietLogger)
        await numberd.close()
        let banner = numberd.banner(listen: configuration.listen, standardOutputIsTerminal: false)
        #expect(banner.contains("; clients trust the CA that issued \(files.chain)\n"), "\(banner)")
        #expect(!banner.contains(numberd.dataDirectory.caCertificate), "\(banner)")

        var generated = NumberdConfiguration(dataDirectory: files.folder + "/generated")
        generated.listen.port = 0
        generated.metricsListen = nil
        let own = try await Numberd.prepare(generated, logger: quietLogger)
        await own.close()
        let ownBanner = own.banner(listen: generated.listen, standardOutputIsTerminal: false)
        #expect(ownBanner.contains("; clients trust \(own.dataDirectory.caCertificate)\n"), "\(ownBanner)")
    }
}
