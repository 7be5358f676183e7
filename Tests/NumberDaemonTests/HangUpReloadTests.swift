import Foundation
import Logging
import NumberAPI
import NumberClient
import NumberTLS
import Synchronization
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
    /// own; a child ignores SIGHUP from its first instruction and traps it from the top of its start, holding what it
    /// gets until the service that handles it runs.
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

        /// numberd ignored SIGHUP until the service that handles it ran: a reload asked for during the start (the
        /// journal's replay and the start snapshot, minutes at a million numbers) was thrown away without a word. It
        /// is trapped from the top of the start now and carried out once the services run. The start is held between
        /// the two for as long as the test needs, not raced: standard output is a pipe the test filled, so the banner's
        /// write — after `prepare` bound the RPC port, before the services run — waits until the test reads.
        @Test("a SIGHUP sent before the services run, after the config file changed, reloads it once they run")
        func hangUpDuringTheStartIsCarriedOut() async throws {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-hup-\(UUID())").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let config = folder + "/numberd.json"
            try #"{"rate-limit": 50}"#.write(toFile: config, atomically: true, encoding: .utf8)
            let log = folder + "/stderr.log"
            #expect(FileManager.default.createFile(atPath: log, contents: nil))
            func logged() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
            let output = Pipe()
            try Self.fill(output.fileHandleForWriting.fileDescriptor)
            let port = try freeLoopbackPort()
            let process = SpawnedProcess()
            process.executableURL = URL(fileURLWithPath: try BuiltProduct.path("numberd"))
            process.arguments = [
                "serve", "--data-dir", folder + "/data", "--listen", "127.0.0.1:\(port)", "--metrics-listen", "off",
                "--config", config, "--log-level", "notice",
            ]
            process.environment = ProcessInfo.processInfo.environment.filter {
                !$0.key.hasPrefix("NUMBERD_") && !$0.key.hasPrefix("TWILIO_")
            }
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = output
            let standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardError = standardError
            try process.run()
            try? standardError.close()
            let checked: Result<Void, any Error>
            do {
                // `prepare` binds the RPC port last: once it takes connections the start is done, and the banner's
                // write waits in the full pipe.
                let deadline = ContinuousClock.now + .seconds(120)
                while !acceptsConnections(port: port) {
                    guard process.isRunning, ContinuousClock.now < deadline else {
                        throw HarnessError("numberd did not start: \(logged())")
                    }
                    try await Task.sleep(for: .milliseconds(10))
                }
                try #"{"rate-limit": 60}"#.write(toFile: config, atomically: true, encoding: .utf8)
                process.send(SIGHUP)
                try await Task.sleep(for: .milliseconds(300))
                #expect(process.isRunning, "\(logged())")
                #expect(!logged().contains("SIGHUP:"), "a reload before the services run: \(logged())")
                // Read: the banner is written, the services run, and the reload held since the signal with them.
                let printed = Self.readToEnd(output.fileHandleForReading)
                let changed = "SIGHUP: per-account limits changed"
                func done() -> Bool { logged().contains(changed) && printed.text.contains("serving nrpc/1") }
                let until = ContinuousClock.now + .seconds(60)
                while !done(), ContinuousClock.now < until {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(printed.text.contains("serving nrpc/1"), "\(printed.text.suffix(500))")
                let reloaded = logged().split(separator: "\n").filter { $0.contains(changed) }
                #expect(reloaded.count == 1, "the signal sent during the start was not carried out: \(logged())")
                #expect(reloaded.first?.contains("rate_limit_to=60") == true, "\(reloaded)")
                checked = .success(())
            } catch {
                checked = .failure(error)
            }
            process.send(SIGTERM)
            if await ChildExit.wait(process, timeout: .seconds(60)) == nil {
                process.send(SIGKILL)
                _ = await ChildExit.wait(process, timeout: .seconds(10))
            }
            withExtendedLifetime(output) {}
            try checked.get()
        }

        /// Fills the pipe whose write end is `descriptor` to its last byte, then makes the descriptor blocking again
        /// (a child given it shares its flags): the next write to it waits until the pipe is read.
        static func fill(_ descriptor: Int32) throws {
            let flags = fcntl(descriptor, F_GETFL)
            guard flags >= 0, fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 else {
                throw HarnessError("fcntl: \(String(cString: strerror(errno)))")
            }
            let chunk = [UInt8](repeating: UInt8(ascii: "."), count: 4096)
            // Whole pages, then single bytes into what is left: a write of at most a page is all or nothing.
            for size in [chunk.count, 1] {
                while chunk.withUnsafeBytes({ write(descriptor, $0.baseAddress!, size) }) > 0 {}
                guard errno == EAGAIN else { throw HarnessError("write: \(String(cString: strerror(errno)))") }
            }
            guard fcntl(descriptor, F_SETFL, flags) == 0 else {
                throw HarnessError("fcntl: \(String(cString: strerror(errno)))")
            }
        }

        /// What a thread of its own has read from `handle` so far (it reads to the end, then stops).
        final class Printed: Sendable {
            let data = Mutex(Data())
            var text: String { String(decoding: data.withLock { $0 }, as: UTF8.self) }
        }

        /// Starts reading `handle` to its end on a thread of its own (not a cooperative one).
        static func readToEnd(_ handle: FileHandle) -> Printed {
            let printed = Printed()
            let descriptor = handle.fileDescriptor
            Thread.detachNewThread {
                var buffer = [UInt8](repeating: 0, count: 65_536)
                while true {
                    let count = read(descriptor, &buffer, buffer.count)
                    if count < 0, errno == EINTR { continue }
                    guard count > 0 else { break }
                    printed.data.withLock { $0.append(contentsOf: buffer[..<count]) }
                }
            }
            return printed
        }
    }
}
