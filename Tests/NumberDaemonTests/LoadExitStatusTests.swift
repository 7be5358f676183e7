import Foundation
import TestSupport
import Testing

/// `numbers-load connections` with the server down reported "0 established of 10000" and exited 0, and a
/// `--json-report` in a missing directory was found only once the run was over, its figures lost: scripts
/// (Tests/Sanitizers/run.sh) read the exit status alone. The built `numbers-load` runs as a process
/// (`swift build --build-tests` first), with ``LoadInterruptionTests/spawnLoad(_:folder:)``.
@Suite("numbers-load's exit status")
struct LoadExitStatusTests {
    @Test("connections: exit 3 when none could be established (the server down), 0 when all were opened and held")
    func connectionsExitStatus() async throws {
        try await withNumberd { numberd in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("load-exit-\(UUID())").path
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let ca = numberd.numberd.dataDirectory.caCertificate
            func printed(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

            // Nothing listens on port 1: every connect is refused.
            try FileManager.default.createDirectory(atPath: folder + "/down", withIntermediateDirectories: true)
            let (down, downOut, downErr) = try LoadInterruptionTests.spawnLoad(
                [
                    "connections", "--server", "127.0.0.1:1", "--ca", ca, "--count", "20", "--concurrency", "4",
                    "--hold", "0",
                ], folder: folder + "/down")
            defer { if down.isRunning { down.send(SIGKILL) } }
            let downEnding = await ChildExit.wait(down, timeout: .seconds(60))
            #expect(downEnding == .exited(3), "\(String(describing: downEnding)): \(printed(downErr))")
            #expect(printed(downOut).contains("connections: 0 established of 20 requested"), "\(printed(downOut))")

            try FileManager.default.createDirectory(atPath: folder + "/up", withIntermediateDirectories: true)
            let (up, upOut, upErr) = try LoadInterruptionTests.spawnLoad(
                [
                    "connections", "--server", "127.0.0.1:\(numberd.port)", "--ca", ca, "--count", "4",
                    "--concurrency", "2", "--hold", "0",
                ], folder: folder + "/up")
            defer { if up.isRunning { up.send(SIGKILL) } }
            let upEnding = await ChildExit.wait(up, timeout: .seconds(120))
            #expect(upEnding == .exited(0), "\(String(describing: upEnding)): \(printed(upErr))")
            #expect(printed(upOut).contains("connections: 4 established of 4 requested"), "\(printed(upOut))")
        }
    }

    /// A walk of the harness: `connections` had no signal handling, so a Ctrl-C during a long opening or hold killed
    /// it with nothing printed.
    @Test("connections: SIGINT during the hold prints and writes the figures so far, marked, and exits 130")
    func connectionsInterrupted() async throws {
        try await withNumberd { numberd in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("load-conn-int-\(UUID())").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            func printed(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
            let (process, out, err) = try LoadInterruptionTests.spawnLoad(
                [
                    "connections", "--server", "127.0.0.1:\(numberd.port)",
                    "--ca", numberd.numberd.dataDirectory.caCertificate, "--count", "4", "--concurrency", "2",
                    "--hold", "280", "--json-report", folder + "/report.json",
                ], folder: folder)
            defer { if process.isRunning { process.send(SIGKILL) } }
            let holding = ContinuousClock.now + .seconds(120)
            while !printed(err).contains("; holding"), process.isRunning, ContinuousClock.now < holding {
                try await Task.sleep(for: .milliseconds(50))
            }
            try #require(printed(err).contains("; holding"), "\(printed(err))")
            process.send(SIGINT)
            let ending = await ChildExit.wait(process, timeout: .seconds(60))
            #expect(ending == .exited(130), "\(String(describing: ending)): \(printed(err))")
            #expect(printed(out).contains("interrupted by signal 2"), "\(printed(out))")
            #expect(printed(out).contains("connections: 4 established of 4 requested"), "\(printed(out))")
            #expect(printed(out).contains("still open when interrupted: 4"), "\(printed(out))")
            let json = try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: folder + "/report.json")))
            let report = try #require(json as? [String: Any])
            #expect(report["interruptedBySignal"] as? Int == 2 && report["established"] as? Int == 4, "\(report)")
        }
    }

    /// A walk of the harness: `--country XX` exited 1, as a failure of the run; only numberd knows which codes are
    /// countries with telephone numbers, so its refusal of the set-up's search is the usage error.
    @Test("run: a --country numberd refuses is a usage error (exit 64) naming it, the set-up cleaned up")
    func countryRefused() async throws {
        try await withNumberd { numberd in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("load-country-\(UUID())").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let (process, _, err) = try LoadInterruptionTests.spawnLoad(
                [
                    "run", "--server", "127.0.0.1:\(numberd.port)", "--key", numberd.adminKey,
                    "--ca", numberd.numberd.dataDirectory.caCertificate, "--accounts", "1", "--owned-numbers", "1",
                    "--mix", "list=1", "--duration", "0.1", "--warmup", "0", "--country", "XX",
                ], folder: folder)
            defer { if process.isRunning { process.send(SIGKILL) } }
            let ending = await ChildExit.wait(process, timeout: .seconds(120))
            let printed = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
            #expect(ending == .exited(64), "\(String(describing: ending)): \(printed)")
            #expect(printed.contains("--country XX was refused by numberd"), "\(printed)")
            #expect(!printed.contains("may still be owned or valid"), "the set-up's account and key: \(printed)")
        }
    }

    @Test("run: a --json-report in a missing directory is a usage error (exit 64) before anything is made")
    func reportFileCheckedFirst() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("load-report-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Data("a CA".utf8).write(to: URL(fileURLWithPath: folder + "/ca.pem"))
        // No server on port 1: the check comes before anything connects.
        let (process, _, err) = try LoadInterruptionTests.spawnLoad(
            [
                "run", "--server", "127.0.0.1:1", "--key", "nk_unused", "--ca", folder + "/ca.pem", "--mix", "list=1",
                "--owned-numbers", "0", "--json-report", folder + "/missing/report.json",
            ], folder: folder)
        defer { if process.isRunning { process.send(SIGKILL) } }
        let ending = await ChildExit.wait(process, timeout: .seconds(60))
        let printed = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        #expect(ending == .exited(64), "\(String(describing: ending)): \(printed)")
        #expect(printed.contains("--json-report \(folder)/missing/report.json cannot be written"), "\(printed)")
    }
}
