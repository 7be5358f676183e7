import Foundation
import Logging
import NumberAPI
import NumberClient
import NumberCore
import NumberTLS
import Synchronization
import TestSupport
import Testing

@testable import NumberDaemon

/// numberd keeps the server certificate it generated usable: at every start (after taking the data directory's lock)
/// and periodically while serving, one that is expired, not yet valid, within the renewal window (30 days) or damaged
/// is re-issued from the same local CA, so clients that trust the unchanged `ca.pem` keep working. An operator's
/// `--tls-cert` is never rewritten: near its end it is a warning, expired it refuses the start.
@Suite("Server certificate renewal")
struct CertificateRenewalTests {
    /// A data directory laid out as numberd lays it out, with a CA and a server certificate it issued for `validity`.
    struct Seeded {
        let root: String
        let authority: CertificateAuthority
        var layout: DataDirectory { DataDirectory(root: root) }

        init(
            server validity: CertificateValidity = .leafDefaults, authority: CertificateValidity = .authorityDefaults
        )
            throws
        {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-certs-\(UUID())").path
            try FileManager.default.createDirectory(atPath: root + "/tls", withIntermediateDirectories: true)
            self.authority = try CertificateAuthority.generate(validity: authority)
            try self.authority.write(certificateTo: layout.caCertificate, privateKeyTo: layout.caKey)
            let issued = try self.authority.issueServerCertificate(validity: validity)
            try issued.write(certificateTo: layout.serverCertificate, privateKeyTo: layout.serverKey)
        }

        func remove() { try? FileManager.default.removeItem(atPath: root) }

        /// The four files' bytes.
        func files() throws -> [String: Data] {
            var bytes: [String: Data] = [:]
            for path in [layout.caCertificate, layout.caKey, layout.serverCertificate, layout.serverKey] {
                bytes[(path as NSString).lastPathComponent] = try Data(contentsOf: URL(fileURLWithPath: path))
            }
            return bytes
        }
    }

    /// Why a generated server certificate is due.
    enum Due: String, CaseIterable, Sendable {
        case expired, notYetValid, nearExpiry

        var validity: CertificateValidity {
            switch self {
            case .expired: .expired
            case .notYetValid: .notYetValid
            case .nearExpiry: .days(10)
            }
        }
    }

    @Test(
        "a due server certificate is renewed at start from the same CA, and a client trusting ca.pem gets in",
        arguments: Due.allCases)
    func dueCertificateIsRenewed(due: Due) async throws {
        let seeded = try Seeded(server: due.validity)
        defer { seeded.remove() }
        let before = try seeded.files()
        let oldSerial = try await openssl(["x509", "-noout", "-serial", "-in", seeded.layout.serverCertificate]).output
        try await withNumberd(dataDirectory: seeded.root) { running in
            try await Self.expectHealthyCall(running.client())
        }
        let after = try seeded.files()
        #expect(after["ca.pem"] == before["ca.pem"], "the CA is kept: clients need no change")
        #expect(after["ca-key.pem"] == before["ca-key.pem"])
        #expect(after["server.pem"] != before["server.pem"])
        #expect(after["server-key.pem"] != before["server-key.pem"], "a new key with the new certificate")
        let path = seeded.layout.serverCertificate
        #expect(try await openssl(["x509", "-noout", "-serial", "-in", path]).output != oldSerial)
        // Valid now and for more than the renewal window, as a real peer reads it, and issued by the same CA.
        #expect(try await openssl(["x509", "-noout", "-checkend", "\(31 * 86_400)", "-in", path]).status == 0)
        let verified = try await openssl(["verify", "-CAfile", seeded.layout.caCertificate, path])
        #expect(verified.status == 0, "\(verified.output)")
        #expect(try Self.mode(seeded.layout.serverKey) == 0o600)
    }

    @Test("a CA numberd generates is loopback only (critical name constraints), and what it issues verifies under it")
    func generatedAuthorityIsLoopbackOnly() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-ca-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try await withNumberd(dataDirectory: root) { running in
            try await Self.expectHealthyCall(running.client())
        }
        let layout = DataDirectory(root: root)
        let constraints = try await openssl(["x509", "-noout", "-ext", "nameConstraints", "-in", layout.caCertificate])
        #expect(constraints.output.contains("critical"), "\(constraints.output)")
        #expect(
            constraints.output.contains("DNS:localhost") && constraints.output.contains("IP:127.0.0.0/255.0.0.0"),
            "\(constraints.output)")
        let verified = try await openssl(["verify", "-CAfile", layout.caCertificate, layout.serverCertificate])
        #expect(verified.status == 0, "\(verified.output)")
    }

    @Test("a server certificate far from its end is kept byte for byte")
    func freshCertificateIsKept() async throws {
        let seeded = try Seeded()
        defer { seeded.remove() }
        let before = try seeded.files()
        try await withNumberd(dataDirectory: seeded.root) { running in
            try await Self.expectHealthyCall(running.client())
        }
        #expect(try seeded.files() == before)
    }

    /// A start on a full disk: the generated material is due (a certificate with 10 days left, or a CA with 20), and
    /// the renewed file cannot be written — its temporary file is a folder, so creating it fails as a full disk's
    /// write does. The start used to fail (exit 1) though the pair on disk was valid for days.
    @Test(
        "a renewal at start that cannot be written serves the valid pair on disk, whole, with an error logged",
        arguments: ["server.pem", "ca.pem"])
    func unwritableRenewalServesThePairOnDisk(blocked: String) async throws {
        let seeded = try Seeded(
            server: blocked == "server.pem" ? .days(10) : .leafDefaults,
            authority: blocked == "ca.pem" ? .days(20) : .authorityDefaults)
        defer { seeded.remove() }
        let temporary = seeded.root + "/tls/" + blocked + ".tmp"
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        let before = try seeded.files()
        let servedSerial = try await Self.serial(seeded.layout.serverCertificate)
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "certs") { _ in CapturingLogHandler(lines: lines) }
        try await withNumberd(dataDirectory: seeded.root, logger: logger) { running in
            try await Self.expectHealthyCall(running.client())
            #expect(try await presentedSerial(port: running.port) == servedSerial)
        }
        // Neither file of a pair was replaced: the files of a renewal are all written before any is renamed.
        #expect(try seeded.files() == before)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: seeded.root + "/tls").filter {
            $0.hasSuffix(".tmp") && $0 != blocked + ".tmp"
        }
        #expect(leftovers.isEmpty, "\(leftovers)")
        let error = lines.all.first { $0.message.contains("could not be written") }
        #expect(error?.level == .error, "\(lines.all.map(\.message))")
        #expect(error?.metadata["error"]?.contains(temporary) == true, "\(String(describing: error))")
    }

    /// How a generated file is damaged.
    enum Damage: String, CaseIterable, Sendable {
        case truncatedKey, truncatedCertificate, missingKey, emptyCertificate, keyOfAnotherCertificate
        case issuedByAnotherCA
    }

    @Test(
        "a damaged server certificate or key is regenerated from the same CA and the start succeeds",
        arguments: Damage.allCases)
    func damagedServerFilesAreRegenerated(damage: Damage) async throws {
        let seeded = try Seeded()
        defer { seeded.remove() }
        let layout = seeded.layout
        switch damage {
        case .truncatedKey: try Self.truncate(layout.serverKey)
        case .truncatedCertificate: try Self.truncate(layout.serverCertificate)
        case .missingKey: try FileManager.default.removeItem(atPath: layout.serverKey)
        case .emptyCertificate: try Data().write(to: URL(fileURLWithPath: layout.serverCertificate))
        case .keyOfAnotherCertificate:
            try seeded.authority.issueServerCertificate().write(
                certificateTo: layout.root + "/other.pem", privateKeyTo: layout.serverKey)
        case .issuedByAnotherCA:
            try CertificateAuthority.generate().issueServerCertificate().write(
                certificateTo: layout.serverCertificate, privateKeyTo: layout.serverKey)
        }
        let caBefore = try Data(contentsOf: URL(fileURLWithPath: layout.caCertificate))
        try await withNumberd(dataDirectory: seeded.root) { running in
            try await Self.expectHealthyCall(running.client())
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: layout.caCertificate)) == caBefore)
        let verified = try await openssl(["verify", "-CAfile", layout.caCertificate, layout.serverCertificate])
        #expect(verified.status == 0, "\(verified.output)")
    }

    /// How the CA is unusable.
    enum AuthorityProblem: String, CaseIterable, Sendable {
        case expired, nearExpiry, truncatedKey
    }

    @Test(
        "an unusable CA is replaced with the whole set, and the log says clients must trust the new ca.pem",
        arguments: AuthorityProblem.allCases)
    func unusableAuthorityIsRegenerated(problem: AuthorityProblem) async throws {
        let seeded = try Seeded(
            authority: problem == .expired ? .expired : problem == .nearExpiry ? .days(20) : .authorityDefaults)
        defer { seeded.remove() }
        if problem == .truncatedKey { try Self.truncate(seeded.layout.caKey) }
        let before = try seeded.files()
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "certs") { _ in CapturingLogHandler(lines: lines) }
        try await withNumberd(dataDirectory: seeded.root, logger: logger) { running in
            try await Self.expectHealthyCall(running.client())
        }
        let after = try seeded.files()
        #expect(after["ca.pem"] != before["ca.pem"])
        #expect(after["server.pem"] != before["server.pem"])
        let warning = lines.all.first { $0.message.contains("replaced the local CA") }
        #expect(warning?.level == .warning)
        #expect(warning?.message.contains("clients must trust the new CA") == true)
        #expect(warning?.metadata["ca"] == seeded.layout.caCertificate)
    }

    @Test("a CA not valid yet (this machine's clock behind the one that made it) is kept and reported, not replaced")
    func authorityFromTheFutureIsKept() async throws {
        let seeded = try Seeded(authority: .notYetValid)
        defer { seeded.remove() }
        let before = try seeded.files()
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "certs") { _ in CapturingLogHandler(lines: lines) }
        try await withNumberd(dataDirectory: seeded.root, logger: logger) { _ in }
        let after = try seeded.files()
        #expect(after["ca.pem"] == before["ca.pem"] && after["ca-key.pem"] == before["ca-key.pem"])
        let warning = lines.all.first { $0.message == "the local CA has a problem" }
        #expect(warning?.level == .warning)
        #expect(warning?.metadata["problem"]?.contains("clock looks behind") == true, "\(String(describing: warning))")
        #expect(!lines.all.contains { $0.message.contains("replaced the local CA") })
    }

    @Test("renewal decisions at the edges of the validity period and the window")
    func timeProblemEdges() throws {
        let window = NumberdConfiguration.certificateRenewalWindowSeconds
        #expect(window == 30 * 86_400)
        var summary = try CertificateSummary(certificatePEM: TestCertificates.leaf.certificatePEM)
        summary.notBeforeSeconds = 1_000
        summary.notAfterSeconds = 1_000 + 398 * 86_400
        func problem(_ now: Int64) -> String? {
            GeneratedCertificates.timeProblem(summary, nowSeconds: now, windowSeconds: window)
        }
        #expect(problem(999)?.contains("not valid yet") == true)
        #expect(problem(1_000) == nil)
        #expect(problem(summary.notAfterSeconds - window) == nil, "exactly the window left: kept")
        #expect(problem(summary.notAfterSeconds - window + 1)?.contains("within the renewal window") == true)
        #expect(problem(summary.notAfterSeconds)?.contains("within the renewal window") == true)
        #expect(problem(summary.notAfterSeconds + 1)?.contains("expired") == true)
    }

    @Test("a second start on a directory in use generates nothing: the TLS files wait for the data directory's lock")
    func generationWaitsForTheLock() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-certlock-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withNumberd(dataDirectory: directory) { running in
            let layout = running.numberd.dataDirectory
            let tls = [layout.caCertificate, layout.caKey, layout.serverCertificate, layout.serverKey]
            for path in tls { try FileManager.default.removeItem(atPath: path) }
            var configuration = NumberdConfiguration(dataDirectory: directory)
            configuration.listen.port = 0
            configuration.metricsListen = nil
            await #expect(throws: JournalError.self) {
                let second = try await Numberd.prepare(configuration, logger: quietLogger)
                await second.close()
            }
            for path in tls {
                #expect(!FileManager.default.fileExists(atPath: path), "the refused start wrote \(path)")
            }
        }
    }

    @Test(
        "a running numberd renews its certificate when it becomes due: new connections get it, open ones keep working")
    func periodicRenewalReachesNewConnections() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-renew-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withNumberd(dataDirectory: directory, configure: { $0.certificateCheckIntervalSeconds = 1 }) {
            running in
            let layout = running.numberd.dataDirectory
            let caBefore = try Data(contentsOf: URL(fileURLWithPath: layout.caCertificate))
            try await withNumbersClient(running.client()) { client in
                _ = try await client.healthCheck(HealthCheckRequest())
                let served = try #require(try await presentedSerial(port: running.port))
                #expect(served == (try await Self.serial(layout.serverCertificate)))
                // Time passes: the certificate on disk is now ten days from its end (as one issued 388 days ago).
                let aging = try layout.authority().issueServerCertificate(validity: .days(10))
                try aging.write(certificateTo: layout.serverCertificate, privateKeyTo: layout.serverKey)
                // From the test's own copy, not the disk: a check running between the write and a read of the file
                // may already have renewed it, and the renewed serial taken for the aging one is never "renewed".
                let agingSerial = try await Self.serial(pem: aging.certificatePEM)
                var renewed: String?
                // Seconds when idle; a full CI run (crash storms beside it) once took over 30.
                let deadline = ContinuousClock.now + .seconds(90)
                while ContinuousClock.now < deadline {
                    // What is served is what is on disk (a check that ran between the test's two writes may renew
                    // twice: the disk is read again each time).
                    let now = try await presentedSerial(port: running.port)
                    if let now, now != served, now != agingSerial,
                        now == (try await Self.serial(layout.serverCertificate))
                    {
                        renewed = now
                        break
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
                _ = try #require(renewed, "new connections do not get a renewed certificate")
                #expect(
                    try await openssl([
                        "x509", "-noout", "-checkend", "\(31 * 86_400)", "-in", layout.serverCertificate,
                    ])
                    .status == 0)
                // The connection opened before the renewal carries on.
                let health = try await client.healthCheck(HealthCheckRequest())
                #expect(health.status == .serving)
            }
            try await Self.expectHealthyCall(running.client())
            #expect(try Data(contentsOf: URL(fileURLWithPath: layout.caCertificate)) == caBefore)
        }
    }

    /// The in-process Twilio simulator's certificate (the default run's provider) was issued once at start, for 398
    /// days: after that much uptime every provider call failed verification. The certificate check re-issues it from
    /// the same CA, which the Twilio adapter trusts, and the simulator serves it to new connections.
    @Test("the in-process simulator's certificate is renewed by the certificate check, from the CA the adapter trusts")
    func simulatorCertificateIsRenewed() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-sim-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withNumberd(dataDirectory: directory) { running in
            let port = try #require(running.numberd.simulator).port
            let certificate = try #require(running.numberd.simulatorCertificate)
            let served = try #require(try await presentedSerial(port: port, alpn: "http/1.1"))
            let now = Int64(Date().timeIntervalSince1970)
            // Far from its end: kept.
            #expect(try certificate.check(nowSeconds: now) == false)
            #expect(try await presentedSerial(port: port, alpn: "http/1.1") == served)
            // 370 days on, 28 days before the end of its 398: re-issued, and new connections get it.
            #expect(try certificate.check(nowSeconds: now + 370 * 86_400))
            let renewed = try #require(try await presentedSerial(port: port, alpn: "http/1.1"))
            #expect(renewed != served)
            // Issued by the CA the adapter trusts (tls/ca.pem), for the address it connects to.
            let authority = running.numberd.dataDirectory.caCertificate
            let verified = try await openssl([
                "s_client", "-connect", "127.0.0.1:\(port)", "-alpn", "http/1.1", "-CAfile", authority,
                "-verify_return_error", "-verify_ip", "127.0.0.1",
            ])
            #expect(verified.output.contains("Verify return code: 0 (ok)"), "\(verified.output)")
        }
    }

    @Test("the check while serving never makes a CA: with ca.pem and its key deleted it writes nothing, serves on")
    func missingAuthorityWhileServingWritesNothing() throws {
        let seeded = try Seeded()
        defer { seeded.remove() }
        let now = Int64(Date().timeIntervalSince1970)
        let certificates = try ServerCertificates.start(
            NumberdConfiguration(dataDirectory: seeded.root), seeded.layout, nowSeconds: now, logger: quietLogger)
        let served = try #require(certificates.context.current.certificate)
        let server = try Data(contentsOf: URL(fileURLWithPath: seeded.layout.serverCertificate))
        try FileManager.default.removeItem(atPath: seeded.layout.caCertificate)
        try FileManager.default.removeItem(atPath: seeded.layout.caKey)

        let error = #expect(throws: TLSError.self) { try certificates.check(nowSeconds: now + 3600) }
        #expect(error?.message.contains("restart numberd") == true, "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: seeded.layout.caCertificate))
        #expect(!FileManager.default.fileExists(atPath: seeded.layout.caKey))
        #expect(try Data(contentsOf: URL(fileURLWithPath: seeded.layout.serverCertificate)) == server)
        #expect(certificates.context.current.certificate?.sha256Fingerprint == served.sha256Fingerprint)
        #expect(certificates.context.current.certificate?.serialNumberHex == served.serialNumberHex)
    }

    /// A TLS review: a start whose `ca.pem` was sound but whose key was missing or encrypted (an operator moving the
    /// CA key offline) replaced the whole set, and every client trusting the old `ca.pem` was refused.
    @Test(
        "a CA whose key is missing or encrypted keeps serving the valid certificate it issued, said at every check",
        arguments: [false, true])
    func authorityKeyMovedOffline(encrypted: Bool) throws {
        let seeded = try Seeded()
        defer { seeded.remove() }
        let layout = seeded.layout
        if encrypted {
            try "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n".write(
                toFile: layout.caKey, atomically: true, encoding: .utf8)
        } else {
            try FileManager.default.removeItem(atPath: layout.caKey)
        }
        let before = try [layout.caCertificate, layout.serverCertificate, layout.serverKey].map {
            try Data(contentsOf: URL(fileURLWithPath: $0))
        }
        var configuration = NumberdConfiguration(dataDirectory: seeded.root)
        configuration.provider = .twilio(
            try TwilioCredentials.authToken(accountSid: "AC" + String(repeating: "5", count: 32), authToken: "token"))
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "certs") { _ in CapturingLogHandler(lines: lines) }
        let now = Int64(Date().timeIntervalSince1970)
        let certificates = try ServerCertificates.start(configuration, layout, nowSeconds: now, logger: logger)
        _ = try certificates.check(nowSeconds: now + 3600)
        let after = try [layout.caCertificate, layout.serverCertificate, layout.serverKey].map {
            try Data(contentsOf: URL(fileURLWithPath: $0))
        }
        #expect(after == before, "nothing replaced")
        #expect(
            certificates.context.current.certificate?.serialNumberHex
                == (try? CertificateSummary(
                    certificatePEM: String(decoding: before[1], as: UTF8.self)))?.serialNumberHex)
        let warnings = lines.all.filter { $0.message == "the local CA has a problem" }
        #expect(warnings.count == 2, "at start and at the check: \(lines.all)")
        let problem = warnings.first?.metadata["problem"] ?? ""
        #expect(problem.contains(encrypted ? "is encrypted" : "is missing") && problem.contains("put the key back"))
        #expect(warnings.allSatisfy { $0.level == .warning })
    }

    @Test(
        "a CA without its key is still replaced when its certificate cannot serve, or the simulator needs the key",
        arguments: [false, true])
    func authorityKeyMissingAndNeeded(simulator: Bool) throws {
        let seeded = try Seeded(server: simulator ? .leafDefaults : .expired)
        defer { seeded.remove() }
        let layout = seeded.layout
        try FileManager.default.removeItem(atPath: layout.caKey)
        let oldCA = try String(contentsOfFile: layout.caCertificate, encoding: .utf8)
        var configuration = NumberdConfiguration(dataDirectory: seeded.root)
        if !simulator {
            configuration.provider = .twilio(
                try TwilioCredentials.authToken(
                    accountSid: "AC" + String(repeating: "5", count: 32), authToken: "token"))
        }
        let now = Int64(Date().timeIntervalSince1970)
        _ = try ServerCertificates.start(configuration, layout, nowSeconds: now, logger: quietLogger)
        #expect(try String(contentsOfFile: layout.caCertificate, encoding: .utf8) != oldCA, "a new CA")
        #expect(FileManager.default.fileExists(atPath: layout.caKey))
    }

    /// OpenSSL keeps the keys that encrypt session tickets for a context's life; numberd's context used to live as
    /// long as its certificate (months), so one key protected every TLS 1.2 session ticket it issued.
    @Test("a context older than the ticket key lifetime is replaced at the next check, with the same certificate")
    func ticketKeyRotation() throws {
        let seeded = try Seeded()
        defer { seeded.remove() }
        let now = Int64(Date().timeIntervalSince1970)
        // The key's age is on a monotonic clock (here a manual one): the wall clock the checks get may move back.
        let uptime = Mutex<Int64>(1_000)
        let certificates = try ServerCertificates.start(
            NumberdConfiguration(dataDirectory: seeded.root), seeded.layout, nowSeconds: now, logger: quietLogger,
            uptime: { uptime.withLock { $0 } })
        func check(after seconds: Int64) throws -> String? {
            uptime.withLock { $0 = 1_000 + seconds }
            return try certificates.check(nowSeconds: now)["ticket_key_rotated"].map { "\($0)" }
        }
        let first = certificates.context.current
        let lifetime = ServerCertificates.ticketKeyLifetimeSeconds
        #expect(try check(after: lifetime - 1) == "0")
        #expect(certificates.context.current === first)
        // The wall clock the checks get has not moved at all (as after NTP set it back): rotation is on time.
        #expect(try check(after: lifetime) == "1")
        let second = certificates.context.current
        #expect(second !== first)
        #expect(second.certificate?.sha256Fingerprint == first.certificate?.sha256Fingerprint)
        // The lifetime counts from the new context.
        #expect(try check(after: lifetime + 3600) == "0")
        #expect(try check(after: 2 * lifetime) == "1")
        #expect(certificates.context.current !== second)
    }

    @Test("the ticket key rotates from the pair being served while an expired one sits on disk, refused")
    func ticketKeyRotatesPastARefusedPair() throws {
        let seeded = try Seeded()
        defer { seeded.remove() }
        let files = try OperatorFiles(validity: .leafDefaults)
        defer { try? FileManager.default.removeItem(atPath: files.folder) }
        var configuration = NumberdConfiguration(dataDirectory: seeded.root)
        configuration.tlsCertificate = (files.chain, files.key)
        let now = Int64(Date().timeIntervalSince1970)
        let uptime = Mutex<Int64>(1_000)
        let certificates = try ServerCertificates.start(
            configuration, seeded.layout, nowSeconds: now, logger: quietLogger, uptime: { uptime.withLock { $0 } })
        let first = certificates.context.current
        // A rolled-back pair on disk: refused at every check.
        try files.authority.issueServerCertificate(validity: .expired)
            .write(certificateTo: files.chain, privateKeyTo: files.key)
        #expect(try certificates.check(nowSeconds: now)["renewed"].map { "\($0)" } == "0")
        #expect(certificates.context.current === first)
        // Its key's lifetime over: a new context (a new ticket key) of the certificate still served.
        uptime.withLock { $0 = 1_000 + ServerCertificates.ticketKeyLifetimeSeconds }
        #expect(try certificates.check(nowSeconds: now)["ticket_key_rotated"].map { "\($0)" } == "1")
        #expect(certificates.context.current !== first)
        #expect(certificates.context.current.certificate?.sha256Fingerprint == first.certificate?.sha256Fingerprint)
    }

    @Test("a running numberd whose CA files are deleted logs that a restart is needed, and keeps its certificate")
    func runningNumberdKeepsItsAuthority() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-noca-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "certs") { _ in CapturingLogHandler(lines: lines) }
        try await withNumberd(
            dataDirectory: directory, logger: logger, configure: { $0.certificateCheckIntervalSeconds = 1 }
        ) { running in
            let layout = running.numberd.dataDirectory
            let served = try #require(try await presentedSerial(port: running.port))
            let server = try Data(contentsOf: URL(fileURLWithPath: layout.serverCertificate))
            // A client that trusts the CA as it was (read before it is deleted).
            var client = running.client()
            client.trustRoots = .pem(try String(contentsOfFile: layout.caCertificate, encoding: .utf8))
            try FileManager.default.removeItem(atPath: layout.caCertificate)
            try FileManager.default.removeItem(atPath: layout.caKey)
            // A check runs every second; under a full CI run one can wait tens of seconds for a thread.
            let deadline = ContinuousClock.now + .seconds(90)
            while ContinuousClock.now < deadline,
                !lines.all.contains(where: { $0.metadata["error"]?.contains("the local CA is missing") == true })
            {
                try await Task.sleep(for: .milliseconds(100))
            }
            let line = lines.all.first { $0.metadata["error"]?.contains("the local CA is missing") == true }
            #expect(line?.metadata["error"]?.contains("restart numberd") == true, "\(lines.all.map(\.message))")
            #expect(!FileManager.default.fileExists(atPath: layout.caCertificate))
            #expect(!FileManager.default.fileExists(atPath: layout.caKey))
            #expect(try Data(contentsOf: URL(fileURLWithPath: layout.serverCertificate)) == server)
            #expect(try await presentedSerial(port: running.port) == served)
            try await Self.expectHealthyCall(client)
        }
    }

    // MARK: Operator certificates

    /// An operator's certificate and key from a CA of their own, in a folder outside the data directory.
    struct OperatorFiles {
        let folder: String
        let authority: CertificateAuthority
        var chain: String { folder + "/operator.pem" }
        var key: String { folder + "/operator-key.pem" }

        init(validity: CertificateValidity) throws {
            folder = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-operator-\(UUID())").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            authority = try CertificateAuthority.generate(commonName: "operator CA")
            try authority.issueServerCertificate(validity: validity).write(certificateTo: chain, privateKeyTo: key)
        }

        func bytes() throws -> [Data] {
            try [chain, key].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        }

        /// The error a numberd start with these files (`--tls-cert`, a data directory in the folder) is refused with.
        func refusedStart(sourceLocation: SourceLocation = #_sourceLocation) async -> TLSError? {
            var configuration = NumberdConfiguration(dataDirectory: folder + "/data")
            configuration.listen.port = 0
            configuration.metricsListen = nil
            configuration.tlsCertificate = (chain, key)
            return await #expect(throws: TLSError.self, sourceLocation: sourceLocation) {
                let numberd = try await Numberd.prepare(configuration, logger: quietLogger)
                await numberd.close()
            }
        }

        /// numberd serving these files (`--tls-cert`), checking them every second, with a client configuration that
        /// trusts their CA.
        func serve(
            logger: Logger, _ body: (RunningNumberd, NumbersClientConfiguration) async throws -> Void
        ) async throws {
            try await withNumberd(
                logger: logger,
                configure: {
                    $0.tlsCertificate = (chain, key)
                    $0.certificateCheckIntervalSeconds = 1
                }
            ) { running in
                var client = running.client()
                client.trustRoots = authority.trustRoots
                try await body(running, client)
            }
        }
    }

    @Test("an operator certificate near its end is a warning at start and at every check; its files are untouched")
    func operatorCertificateNearItsEndIsAWarning() async throws {
        let files = try OperatorFiles(validity: .days(10))
        defer { try? FileManager.default.removeItem(atPath: files.folder) }
        let before = try files.bytes()
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "certs") { _ in CapturingLogHandler(lines: lines) }
        try await files.serve(logger: logger) { _, client in
            try await Self.expectHealthyCall(client)
            // The periodic check says it again while serving (at start, then every second here; generous for a
            // loaded CI machine).
            let deadline = ContinuousClock.now + .seconds(90)
            while lines.all.filter({ $0.message.contains("--tls-cert") }).count < 2, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(lines.all.filter { $0.message.contains("--tls-cert") }.count >= 2)
        }
        #expect(try files.bytes() == before)
        let warning = lines.all.first { $0.message.contains("--tls-cert") }
        #expect(warning?.level == .warning)
        #expect(warning?.metadata["certificate"] == files.chain)
        // Ten days from its issue, a second or so ago.
        #expect(["9", "10"].contains(warning?.metadata["days_left"]), "\(String(describing: warning))")
        #expect(warning?.metadata["problem"]?.contains("within the renewal window") == true)
    }

    @Test(
        "an operator key others may read or change is a warning at start; 0600 and 0640 are quiet",
        arguments: [(0o644, true), (0o604, true), (0o660, true), (0o600, false), (0o640, false)])
    func exposedOperatorKeyIsAWarning(mode: Int, warned: Bool) throws {
        let seeded = try Seeded()
        defer { seeded.remove() }
        let files = try OperatorFiles(validity: .leafDefaults)
        defer { try? FileManager.default.removeItem(atPath: files.folder) }
        #expect(chmod(files.key, mode_t(mode)) == 0)
        var configuration = NumberdConfiguration(dataDirectory: seeded.root)
        configuration.tlsCertificate = (files.chain, files.key)
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "certs") { _ in CapturingLogHandler(lines: lines) }
        _ = try ServerCertificates.start(
            configuration, seeded.layout, nowSeconds: Int64(Date().timeIntervalSince1970), logger: logger)
        let warning = lines.all.first { $0.message.contains("--tls-key") }
        #expect((warning != nil) == warned)
        if warned {
            #expect(warning?.level == .warning)
            #expect(warning?.metadata["key"] == files.key)
            #expect(warning?.metadata["mode"] == String(mode, radix: 8))
        }
    }

    /// Waits (up to 90 s: checks run every second, a loaded CI machine can delay one) for a log line containing `text`.
    static func waitForLine(_ lines: CapturingLogHandler.Lines, containing text: String) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(90)
        while !lines.all.contains(where: { $0.message.contains(text) }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        return lines.all.contains { $0.message.contains(text) }
    }

    @Test("an expired certificate written over the served one is not served: new connections keep the previous one")
    func expiredReplacementIsNotServed() async throws {
        let files = try OperatorFiles(validity: .leafDefaults)
        defer { try? FileManager.default.removeItem(atPath: files.folder) }
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "certs") { _ in CapturingLogHandler(lines: lines) }
        try await files.serve(logger: logger) { running, configuration in
            try await withNumbersClient(configuration) { client in
                _ = try await client.healthCheck(HealthCheckRequest())
                let first = try await Self.serial(files.chain)
                // A deploy rolled back to last year's pair: whole, its key matching, expired.
                try files.authority.issueServerCertificate(validity: .expired)
                    .write(certificateTo: files.chain, privateKeyTo: files.key)
                #expect(try await Self.waitForLine(lines, containing: "on disk is not served"))
                #expect(try await presentedSerial(port: running.port) == first)
                #expect(!lines.all.contains { $0.message.contains("replaced server certificate") })
                #expect(try await client.healthCheck(HealthCheckRequest()).status == .serving)
            }
        }
    }

    @Test("a chain completed with its issuer, the same leaf, is served from the next check")
    func completedChainIsServed() async throws {
        let files = try OperatorFiles(validity: .leafDefaults)
        defer { try? FileManager.default.removeItem(atPath: files.folder) }
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "certs") { _ in CapturingLogHandler(lines: lines) }
        try await files.serve(logger: logger) { running, _ in
            let chainLength = {
                let probe = try await openssl([
                    "s_client", "-connect", "127.0.0.1:\(running.port)", "-alpn", "nrpc/1", "-showcerts",
                ])
                return probe.output.components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1
            }
            #expect(try await chainLength() == 1)
            // The intermediate (here the CA itself) added after the leaf: the leaf's fingerprint is unchanged.
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: files.chain))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(files.authority.certificatePEM.utf8))
            try handle.close()
            #expect(try await Self.waitForLine(lines, containing: "replaced server certificate or client CA"))
            #expect(try await chainLength() == 2)
        }
    }

    @Test("an operator certificate replaced on disk reaches new connections without a restart; a half-done one waits")
    func replacedOperatorCertificateIsServed() async throws {
        let files = try OperatorFiles(validity: .leafDefaults)
        defer { try? FileManager.default.removeItem(atPath: files.folder) }
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "certs") { _ in CapturingLogHandler(lines: lines) }
        try await files.serve(logger: logger) { running, configuration in
            try await withNumbersClient(configuration) { client in
                _ = try await client.healthCheck(HealthCheckRequest())
                let first = try await Self.serial(files.chain)
                #expect(try await presentedSerial(port: running.port) == first)
                // Half-done: the new certificate is in place, its key not yet. The old pair is still served.
                let renewed = try files.authority.issueServerCertificate(validity: .leafDefaults)
                try Data(renewed.certificatePEM.utf8).write(to: URL(fileURLWithPath: files.chain))
                let second = try await Self.serial(files.chain)
                #expect(try await Self.waitForLine(lines, containing: "cannot be used yet"))
                #expect(try await presentedSerial(port: running.port) == first)
                // Done: the key follows, and the next check serves the new pair.
                try renewed.write(certificateTo: files.chain, privateKeyTo: files.key)
                var served: String?
                let servedDeadline = ContinuousClock.now + .seconds(90)
                while ContinuousClock.now < servedDeadline {
                    served = try await presentedSerial(port: running.port)
                    if served == second { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(served == second, "the replaced certificate was not served")
                // Logged just after the new pair is installed: a connection in between sees it served first.
                #expect(try await Self.waitForLine(lines, containing: "replaced server certificate"))
                // The connection opened before carries on.
                #expect(try await client.healthCheck(HealthCheckRequest()).status == .serving)
            }
        }
    }

    /// Found by the limits audit: the watched TLS files were read whole, blocking, each check: a FIFO put at
    /// `--tls-cert` held the check's thread for ever (and a start), a huge file was read whole each time.
    @Test(
        "a FIFO or an oversized file at --tls-cert: the check does not wait on it and keeps serving; a start refuses it"
    )
    func unusableFileAtTheCertificatePath() async throws {
        let files = try OperatorFiles(validity: .leafDefaults)
        defer { try? FileManager.default.removeItem(atPath: files.folder) }
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "certs") { _ in CapturingLogHandler(lines: lines) }
        let original = try Data(contentsOf: URL(fileURLWithPath: files.chain))
        // The checks that found the file unusable for `reason` so far.
        let refusals = { (reason: String) in
            lines.all.filter {
                $0.message.contains("cannot be used yet") && $0.metadata["error"]?.contains(reason) == true
            }
            .count
        }
        let waitForRefusals = { (reason: String, count: Int) async throws -> Bool in
            let deadline = ContinuousClock.now + .seconds(90)
            while refusals(reason) < count, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            return refusals(reason) >= count
        }
        try await files.serve(logger: logger) { running, client in
            try await Self.expectHealthyCall(client)
            let first = try await Self.serial(files.chain)
            try FileManager.default.removeItem(atPath: files.chain)
            #expect(mkfifo(files.chain, 0o600) == 0)
            // Checked again and again (every second), never stuck: still serving the certificate it had.
            #expect(try await waitForRefusals("is not a regular file", 2))
            #expect(try await presentedSerial(port: running.port) == first)
            try await Self.expectHealthyCall(client)
            // One byte over 8 MiB: refused by its size.
            try FileManager.default.removeItem(atPath: files.chain)
            try Data(count: ServerCertificates.tlsFileBytesMax + 1).write(to: URL(fileURLWithPath: files.chain))
            #expect(try await waitForRefusals("is larger than 8 MiB", 1))
            #expect(try await presentedSerial(port: running.port) == first)
            try original.write(to: URL(fileURLWithPath: files.chain))
        }
        // A start with a FIFO there fails at once, naming it (it waited for a writer for ever).
        try FileManager.default.removeItem(atPath: files.chain)
        #expect(mkfifo(files.chain, 0o600) == 0)
        let error = await files.refusedStart()
        #expect(error?.message.contains("\(files.chain) is not a regular file") == true, "\(String(describing: error))")
    }

    @Test("an expired operator certificate refuses the start with a clear error, and leaves the directory usable")
    func expiredOperatorCertificateRefusesTheStart() async throws {
        let files = try OperatorFiles(validity: .expired)
        defer { try? FileManager.default.removeItem(atPath: files.folder) }
        let before = try files.bytes()
        let directory = files.folder + "/data"
        let error = await files.refusedStart()
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains(files.chain) == true, "\(String(describing: error))")
        #expect(error?.message.contains("expired at") == true, "\(String(describing: error))")
        #expect(try files.bytes() == before)
        // The refused start let go of the data directory: a start with a valid certificate works.
        try await withNumberd(dataDirectory: directory) { running in
            try await Self.expectHealthyCall(running.client())
        }
    }

    @Test("an encrypted operator key fails the start at once with a clear error (numberd with standard input closed)")
    func encryptedOperatorKeyFailsAtOnce() async throws {
        let files = try OperatorFiles(validity: .leafDefaults)
        defer { try? FileManager.default.removeItem(atPath: files.folder) }
        let encrypted = files.folder + "/encrypted-key.pem"
        #expect(
            try await openssl(["pkey", "-in", files.key, "-aes256", "-passout", "pass:x", "-out", encrypted]).status
                == 0)
        // Standard input is /dev/null: a prompt for a passphrase would get EOF, not hang.
        let result = try await ChildProcess.run(
            try BuiltProduct.path("numberd"),
            [
                "--data-dir", files.folder + "/data", "--listen", "127.0.0.1:0", "--metrics-listen", "off",
                "--tls-cert", files.chain, "--tls-key", encrypted,
            ], timeout: .seconds(60))
        guard !result.timedOut else {
            Issue.record("numberd with an encrypted key was still running after 60 s (waiting for a passphrase?)")
            return
        }
        let (ending, text) = (result.ending, result.text)
        #expect(ending != .exited(0))
        #expect(text.contains("encrypted private keys are not supported"), "\(text)")
        #expect(text.contains("openssl pkey"), "\(text)")
        // The file is named (numberd reads the files itself, to reload what changed: a review found "in-memory PEM").
        #expect(text.contains(encrypted), "\(text)")
    }

    // MARK: Helpers

    static func expectHealthyCall(_ configuration: NumbersClientConfiguration) async throws {
        let health = try await withNumbersClient(configuration) { try await $0.healthCheck(HealthCheckRequest()) }
        #expect(health.status == .serving)
    }

    static func truncate(_ path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
    }

    static func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int ?? -1) & 0o777
    }

    /// The serial of a certificate file, as `openssl x509 -serial` prints it (`serial=…`).
    static func serial(_ path: String) async throws -> String {
        try await openssl(["x509", "-noout", "-serial", "-in", path]).output.trimmingCharacters(
            in: .whitespacesAndNewlines)
    }

    static func serial(pem: String) async throws -> String {
        try await openssl(["x509", "-noout", "-serial"], input: pem).output.trimmingCharacters(
            in: .whitespacesAndNewlines)
    }
}

/// A leaf certificate to build summaries from.
private enum TestCertificates {
    static let leaf = try! CertificateAuthority.generate().issueServerCertificate()
}

/// Runs the openssl CLI (standard input `input`, else closed); its exit status and output (stdout and stderr).
/// Killed after 60 s (status -1 then).
func openssl(_ arguments: [String], input: String? = nil) async throws -> (status: Int32, output: String) {
    let result = try await ChildProcess.run(
        "/usr/bin/openssl", arguments, input: input.map { Data($0.utf8) }, timeout: .seconds(60))
    return (result.timedOut ? -1 : result.status, result.text)
}

/// The serial (`serial=…`) of the certificate numberd (or its in-process simulator, ALPN `http/1.1`) presents to a new
/// connection on 127.0.0.1:`port`, read by `openssl s_client -showcerts` and `openssl x509`; nil when no certificate
/// came back.
func presentedSerial(port: Int, alpn: String = "nrpc/1") async throws -> String? {
    let probe = try await openssl(["s_client", "-connect", "127.0.0.1:\(port)", "-alpn", alpn, "-showcerts"])
    guard let begin = probe.output.range(of: "-----BEGIN CERTIFICATE-----"),
        let end = probe.output.range(of: "-----END CERTIFICATE-----", range: begin.upperBound..<probe.output.endIndex)
    else { return nil }
    let pem = String(probe.output[begin.lowerBound..<end.upperBound]) + "\n"
    let serial = try await openssl(["x509", "-noout", "-serial"], input: pem)
    guard serial.status == 0 else { return nil }
    return serial.output.trimmingCharacters(in: .whitespacesAndNewlines)
}
