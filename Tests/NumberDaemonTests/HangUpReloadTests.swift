import Foundation
import Logging
import NumberAPI
import NumberClient
import NumberTLS
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The suites that send SIGHUP to this test process, one test at a time across them: the signal reaches every numberd
/// the process runs, so one suite's signal was another's unexpected reload (its exact counts then failed).
@Suite(.serialized) struct HangUpSignalTests {
    /// Sends SIGHUP to this process (or to `child`, a numberd child) about once a second (while a trap is installed)
    /// until `done` holds, at most 90 s; whether it did. Again and again: the trap seen may be an earlier numberd's of
    /// this process (the disposition stays), whose handler got the signal before the numberd under test had set up its
    /// own; a child ignores SIGHUP from its first instruction until the service that handles it runs.
    static func hangUp(_ child: SpawnedProcess? = nil, until done: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(90)
        var nextSignal = ContinuousClock.now
        while !done() {
            guard ContinuousClock.now < deadline else { return false }
            if try HangUpReloadTests.hangUpIsTrapped(by: child?.processIdentifier),
                ContinuousClock.now >= nextSignal
            {
                if let child { child.send(SIGHUP) } else { kill(getpid(), SIGHUP) }
                nextSignal = ContinuousClock.now + .seconds(1)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return true
    }
}

extension HangUpSignalTests {
    /// SIGHUP used to end numberd at once (the default action: no drain, no final snapshot), although tools send it
    /// expecting a reload. It now checks the TLS certificate files at once.
    @Suite("numberd and SIGHUP", .serialized)
    struct HangUpReloadTests {
        /// Whether this process (or the process `pid`) ignores or catches SIGHUP (a trap is installed): only then may a
        /// test send it.
        static func hangUpIsTrapped(by pid: pid_t? = nil) throws -> Bool {
            let status = try String(contentsOfFile: "/proc/\(pid.map(String.init) ?? "self")/status", encoding: .utf8)
            let masks = status.split(separator: "\n").filter { $0.hasPrefix("SigIgn:") || $0.hasPrefix("SigCgt:") }
            return masks.contains { line in
                UInt64(line.split(separator: "\t").last ?? "", radix: 16).map { $0 & 1 != 0 } ?? false
            }
        }

        @Test("SIGHUP serves a replaced operator certificate at once (no hourly wait) and numberd serves on")
        func hangUpReloadsTheCertificate() async throws {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-hup-\(UUID())").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let (chain, key) = (folder + "/server.pem", folder + "/server-key.pem")
            let first = try CertificateAuthority.generate(commonName: "first CA")
            try first.issueServerCertificate(validity: .leafDefaults).write(certificateTo: chain, privateKeyTo: key)
            let lines = CapturingLogHandler.Lines()
            let logger = Logger(label: "hup") { _ in CapturingLogHandler(lines: lines) }
            try await withNumberd(
                logger: logger,
                configure: {
                    $0.tlsCertificate = (chain, key)
                    $0.certificateCheckIntervalSeconds = 3_600
                }
            ) { running in
                var trustingFirst = running.client()
                trustingFirst.trustRoots = first.trustRoots
                try await withNumbersClient(trustingFirst) { client in
                    let health = try await client.healthCheck(HealthCheckRequest())
                    #expect(health.status == .serving)
                }
                // Replaced by a certificate of another CA: a client trusting only that CA gets through once it is served.
                let second = try CertificateAuthority.generate(commonName: "second CA")
                try second.issueServerCertificate(validity: .leafDefaults).write(
                    certificateTo: chain, privateKeyTo: key)
                var trustingSecond = running.client()
                trustingSecond.trustRoots = second.trustRoots
                // SIGHUP until this numberd logs its check.
                let checked = { lines.all.filter { $0.message == "SIGHUP: TLS certificate files checked" }.count }
                let checkedBefore = checked()
                guard try await HangUpSignalTests.hangUp(until: { checked() > checkedBefore }) else {
                    Issue.record("numberd did not check its certificate files after SIGHUP")
                    return
                }
                let deadline = ContinuousClock.now + .seconds(90)
                var served = false
                while !served, ContinuousClock.now < deadline {
                    served =
                        (try? await withNumbersClient(trustingSecond) { client in
                            try await client.healthCheck(HealthCheckRequest()).status == .serving
                        }) ?? false
                    if !served { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(served, "the replaced certificate was not served after SIGHUP")
            }
        }
    }
}
