import Foundation
import NumberDaemon
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `numbers` CLI signalled while its connection's TLS handshake is at work on an event loop thread. It exits with
/// a status of its own (143: the signal cancelled its call), and it used to crash instead, 0–4 runs in 300:
/// exiting ran OpenSSL's `atexit` clean-up, which freed the locks and tables the event loop's thread was using as it
/// tore the cancelled connection down (SIGSEGV in `pthread_rwlock_rdlock` or `memcpy` inside libcrypto, status 139);
/// now OpenSSL is initialized without it (`OpenSSLProcess`). Against a numberd in this process, whose generated
/// certificate the CLI verifies, through a relay (``HandshakeRelay``) that sends the signal a swept delay after it
/// accepted the CLI's connection: the signal lands inside the handshake however loaded the machine is (a sweep timed
/// from the process's start missed it under the whole suite's load). Signals at other moments of a run are
/// `InterruptionTests`' (numbersTests).
@Suite("numbers signalled mid-handshake")
struct CLISignalTests {
    @Test("SIGTERM during the CLI's TLS handshake ends it with its own status, never a crash")
    func signalledMidHandshakeNeverCrashes() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-cli-signal-\(UUID())")
            .path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = NumberdConfiguration(dataDirectory: directory + "/data")
        configuration.listen.port = 0
        configuration.metricsListen = nil
        let numberd = try await Numberd.prepare(configuration, logger: quietLogger)
        let group = ServiceGroup(services: numberd.services, logger: quietLogger)
        let numbers = try BuiltProduct.path("numbers")
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try await numberd.server.listeningAddress().port!
            var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NUMBERS_") }
            environment["NUMBERD_DATA_DIR"] = directory + "/cli-data"
            let errors = directory + "/stderr"
            /// One run of `numbers health` through a relay, sent SIGTERM `signalAfter` the relay accepted its
            /// connection (nil: none): how it ended, what it printed on stderr, the relay's timing, and whether the
            /// signal went while the CLI worked on numberd's handshake flight (after it had it, before it answered).
            func run(
                signalAfter: Duration?
            ) async throws -> (
                ending: ChildExit.Ending?, stderr: String, timing: HandshakeRelay.Timing, midHandshake: Bool
            ) {
                _ = FileManager.default.createFile(atPath: errors, contents: nil)
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: errors))
                defer { try? handle.close() }
                let relay = try HandshakeRelay()
                let process = SpawnedProcess()
                process.executableURL = URL(fileURLWithPath: numbers)
                process.arguments = [
                    "health", "--server", "127.0.0.1:\(relay.port)", "--ca", numberd.dataDirectory.caCertificate,
                ]
                process.environment = environment
                process.standardOutput = FileHandle.nullDevice
                process.standardError = handle
                try process.run()
                let signalled = Mutex<ContinuousClock.Instant?>(nil)
                let timing = try await relay.relayOne(to: port) {
                    guard let signalAfter else { return }
                    Thread.detachNewThread {
                        if signalAfter > .zero { Thread.sleep(forTimeInterval: signalAfter / .seconds(1)) }
                        signalled.withLock { $0 = .now }
                        process.send(SIGTERM)
                    }
                }
                let ending = await ChildExit.wait(process, timeout: .seconds(60))
                let sent = signalled.withLock { $0 }
                // Sent while the CLI worked on numberd's flight: after the relay handed it over, before its answer.
                let midHandshake =
                    sent.map { sent in
                        timing.flightDelivered.map { $0 <= sent } == true
                            && timing.clientAnswered.map { sent < $0 } ?? true
                    } ?? false
                return (ending, (try? String(contentsOfFile: errors, encoding: .utf8)) ?? "", timing, midHandshake)
            }
            /// How long the handshake takes from the relay's accept to the CLI's answer to numberd's flight: the
            /// median of five unsignalled runs.
            func handshake() async throws -> Duration {
                var durations: [Duration] = []
                for _ in 0..<5 {
                    let (ending, stderr, timing, _) = try await run(signalAfter: nil)
                    let took = try #require(
                        timing.clientHandshake,
                        "an unsignalled run: \(String(describing: ending)) \(stderr.prefix(2000))")
                    durations.append(took)
                }
                return durations.sorted()[2]
            }
            // The delay sweeps 0 to 120 % of the handshake (measured again every 30 steps: the load beside the rest of
            // the suite moves it), strided (37 and 300 share no factor: any first part of the sweep spans the whole
            // range), 300 steps — at most 60 s of them (~20 s on an idle machine).
            var whole = try await handshake()
            var endings: [String: Int] = [:]
            var landed = 0
            let budget = ContinuousClock.now + .seconds(60)
            for step in 0..<300 where ContinuousClock.now < budget {
                if step > 0 && step % 30 == 0 { whole = try await handshake() }
                let after = whole * (1.2 * Double(step * 37 % 300) / 300)
                let (ending, stderr, _, midHandshake) = try await run(signalAfter: after)
                endings["\(ending.map { "\($0)" } ?? "still running")", default: 0] += 1
                if midHandshake { landed += 1 }
                #expect(
                    (ending == .exited(143) || ending == .exited(0)) && !stderr.contains("Program crashed"),
                    "signalled \(after) after its connection's accept (a handshake takes \(whole)): \(String(describing: ending)) \(stderr.prefix(2000))"
                )
            }
            print(
                "numbers signalled mid-handshake (a handshake takes \(whole)): \(endings.values.reduce(0, +)) runs, \(landed) signalled while it worked on numberd's flight, \(endings)"
            )
            #expect(landed > 0, "no signal went while the CLI worked on numberd's flight: the test checked little")
            await group.triggerGracefulShutdown()
            try await tasks.next()
        }
        await numberd.close()
    }
}
