import Foundation
import NumberAPI
import NumberClient
import TestSupport
import Testing

/// Ctrl-C or SIGTERM killed `numbers-load run` outright, with no clean-up: the accounts it made stayed active with
/// their funds, their keys valid, their numbers owned and billed every month. Now the first signal cancels the run,
/// which then settles what it made as after any failure and exits 128 + the signal's number. The built
/// `numbers-load` runs as a process against an in-process numberd (`swift build --build-tests` first).
@Suite("numbers-load interrupted against numberd")
struct LoadInterruptionTests {
    @Test("SIGINT while measuring: exit 130 after the clean-up, no active number, keys revoked, accounts suspended")
    func interruptedRunSettles() async throws {
        try await withNumberd { numberd in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("load-sigint-\(UUID())").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let stderrPath = folder + "/stderr.txt"
            _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
            let stderr = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
            let process = SpawnedProcess()
            process.executableURL = URL(fileURLWithPath: try BuiltProduct.path("numbers-load"))
            // Purchases in the mix, so a purchase or its release may be in flight when the signal comes.
            process.arguments = [
                "run", "--server", "127.0.0.1:\(numberd.port)", "--key", numberd.adminKey,
                "--ca", numberd.numberd.dataDirectory.caCertificate, "--accounts", "2", "--owned-numbers", "1",
                "--mix", "list=1,purchase=1", "--concurrency", "4", "--duration", "600", "--warmup", "0",
            ]
            var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NUMBERS_") }
            environment["NUMBERD_DATA_DIR"] = folder + "/data"
            process.environment = environment
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = stderr
            try process.run()
            try stderr.close()
            defer { if process.isRunning { process.send(SIGKILL) } }
            func printed() -> String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

            // The first progress line of the measured window: set-up is over, the drivers run.
            let measuring = ContinuousClock.now + .seconds(120)
            while !printed().contains("] measure"), process.isRunning, ContinuousClock.now < measuring {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(printed().contains("] measure"), "\(printed())")
            process.send(SIGINT)
            let ending = await ChildExit.wait(process, timeout: .seconds(360))
            #expect(ending == .exited(130), "\(String(describing: ending)): \(printed())")
            #expect(printed().contains("interrupted (signal 2)"), "\(printed())")

            try await withNumbersClient(numberd.client()) { admin in
                let accounts = try await admin.listAccounts(ListAccountsRequest(pageSize: 100)).accounts.filter {
                    $0.name.hasPrefix("load-")
                }
                #expect(accounts.count == 2, "\(accounts.map(\.name))")
                for account in accounts {
                    let active = try await admin.listNumbers(
                        ListNumbersRequest(accountId: account.id, status: .active))
                    #expect(active.total == 0, "\(account.id): \(active.numbers.map(\.id))")
                    let keys = try await admin.listApiKeys(ListApiKeysRequest(accountId: account.id)).apiKeys
                    #expect(!keys.isEmpty && keys.allSatisfy { $0.revokedAt != nil }, "\(account.id): \(keys)")
                    #expect(account.status == .suspended, "\(account.id)")
                }
            }
        }
    }

    /// A walk of the harness: interrupted in its warm-up, the run printed a summary "measured 0.001 s" with rates
    /// made of that sliver. Nothing was measured, and it says so.
    @Test("SIGINT during the warm-up: exit 130 after the clean-up, no figure printed, 'nothing was measured'")
    func interruptedWarmup() async throws {
        try await withNumberd { numberd in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("load-warmup-\(UUID())").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let (process, out, err) = try Self.spawnLoad(
                [
                    "run", "--server", "127.0.0.1:\(numberd.port)", "--key", numberd.adminKey,
                    "--ca", numberd.numberd.dataDirectory.caCertificate, "--accounts", "1", "--owned-numbers", "0",
                    "--mix", "list=1", "--concurrency", "2", "--warmup", "600", "--duration", "1",
                    "--json-report", folder + "/report.json",
                ], folder: folder)
            defer { if process.isRunning { process.send(SIGKILL) } }
            func printed(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
            let warming = ContinuousClock.now + .seconds(120)
            while !printed(err).contains("] warm-up"), process.isRunning, ContinuousClock.now < warming {
                try await Task.sleep(for: .milliseconds(50))
            }
            try #require(printed(err).contains("] warm-up"), "\(printed(err))")
            process.send(SIGINT)
            let ending = await ChildExit.wait(process, timeout: .seconds(120))
            #expect(ending == .exited(130), "\(String(describing: ending)): \(printed(err))")
            #expect(printed(err).contains("interrupted during the warm-up ("), "\(printed(err))")
            #expect(printed(err).contains("calls): nothing was measured"), "\(printed(err))")
            #expect(!printed(out).contains("measured"), "no summary: \(printed(out))")
            #expect(printed(folder + "/report.json").isEmpty, "no JSON figures (the file made empty at the start)")
        }
    }

    /// Starts the built `numbers-load` with `arguments`, its stdout and stderr in files under `folder`, no
    /// `NUMBERS_*` variable and a data directory of its own that does not exist.
    static func spawnLoad(_ arguments: [String], folder: String) throws -> (SpawnedProcess, out: String, err: String) {
        let (outPath, errPath) = (folder + "/stdout.txt", folder + "/stderr.txt")
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let stdout = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let stderr = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: try BuiltProduct.path("numbers-load"))
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NUMBERS_") }
        environment["NUMBERD_DATA_DIR"] = folder + "/data"
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        try stdout.close()
        try stderr.close()
        return (process, outPath, errPath)
    }

    /// The first signal during `--compare-raw` only cancelled the measurement, already over: the raw baseline ran on,
    /// and a second signal exited before the RPC figures were printed, leaving the child raw-server running.
    @Test("SIGINT during the raw comparison: exit 130 within seconds, the RPC summary printed, the raw server gone")
    func interruptedRawComparison() async throws {
        // Rate limits above the load: a run most of whose calls are refused has no figure, and no raw comparison.
        try await withNumberd(configure: {
            $0.rateLimits.callsPerSecond = 100_000_000
            $0.rateLimits.callsBurst = 200_000_000
        }) { numberd in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("load-raw-\(UUID())").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            // The RPC window and the raw side each run --duration (--calls-max, which ended the RPC window at once,
            // is refused with --compare-raw: the raw side ran the whole --duration all the same): 30 s, longer than
            // the exit is waited for after the signal.
            let (process, out, err) = try Self.spawnLoad(
                [
                    "run", "--server", "127.0.0.1:\(numberd.port)", "--key", numberd.adminKey,
                    "--ca", numberd.numberd.dataDirectory.caCertificate, "--accounts", "1", "--owned-numbers", "0",
                    "--mix", "balance=1", "--concurrency", "2", "--duration", "30", "--warmup", "0",
                    "--compare-raw", "--quiet",
                ], folder: folder)
            defer { if process.isRunning { process.send(SIGKILL) } }
            func printed(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

            let started = ContinuousClock.now + .seconds(180)
            while !printed(err).contains("raw baseline:"), process.isRunning, ContinuousClock.now < started {
                try await Task.sleep(for: .milliseconds(50))
            }
            let line = try #require(
                printed(err).split(separator: "\n").first(where: { $0.contains("raw baseline:") }), "\(printed(err))")
            let port = try #require(line.components(separatedBy: ", port ").last.flatMap { Int($0) }, "\(line)")
            process.send(SIGINT)
            let ending = await ChildExit.wait(process, timeout: .seconds(20))
            #expect(ending == .exited(130), "\(String(describing: ending)): \(printed(err))")
            #expect(printed(out).contains("numbers-load against"), "the RPC summary: \(printed(out))")
            #expect(!acceptsConnections(port: port), "the raw server on port \(port) was left running")
        }
    }

    /// The fsync probe ran before the signal handling was installed: Ctrl-C killed the run with the probe's file
    /// still in the directory (the store's file system).
    @Test("SIGINT during the fsync probe: exit 130, its file removed")
    func interruptedFsyncProbe() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("load-probe-\(UUID())").path
        let probe = folder + "/probe"
        try FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Data("a CA".utf8).write(to: URL(fileURLWithPath: folder + "/ca.pem"))
        // No server on port 1: the probe comes before anything connects. It is given 600 s, so a run that ends
        // within the wait below was stopped by the signal (a 2 s probe could end before a loaded test saw its file).
        let (process, _, err) = try Self.spawnLoad(
            [
                "run", "--server", "127.0.0.1:1", "--key", "nk_unused", "--ca", folder + "/ca.pem",
                "--fsync-probe-dir", probe, "--fsync-probe-seconds", "600", "--mix", "list=1", "--owned-numbers", "0",
            ], folder: folder)
        defer { if process.isRunning { process.send(SIGKILL) } }
        func probeFiles() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: probe)) ?? [] }

        let started = ContinuousClock.now + .seconds(60)
        while probeFiles().isEmpty, process.isRunning, ContinuousClock.now < started {
            try await Task.sleep(for: .milliseconds(5))
        }
        try #require(
            !probeFiles().isEmpty,
            "the probe never started: \((try? String(contentsOfFile: err, encoding: .utf8)) ?? "")")
        process.send(SIGINT)
        let ending = await ChildExit.wait(process, timeout: .seconds(30))
        let printed = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        #expect(ending == .exited(130), "\(String(describing: ending)): \(printed)")
        #expect(probeFiles().isEmpty, "\(probeFiles())")
    }
}
