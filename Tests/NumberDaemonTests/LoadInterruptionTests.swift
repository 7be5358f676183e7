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
}
