import Foundation
import NumberAPI
import NumberClient
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `numberd backup`: a stopped numberd's data directory backed up as `numbers backup` backs up a running one — refused
/// while numberd runs, written with retention once it is stopped, and what it writes verifies as a data directory.
@Suite("numberd backup (a stopped numberd)", .serialized)
struct OfflineBackupTests {
    @Test("refused while numberd runs; once stopped, written, kept to --backups-kept, and sound; no store is exit 2")
    func backupOfAStoppedNumberd() async throws {
        let child = try ServingChild(arguments: ["--log-level", "error"])
        try await child.waitUntilServing()
        defer { try? FileManager.default.removeItem(atPath: child.dataDirectory) }
        _ = try await withNumbersClient(try StoreFullProcessTests.client(of: child)) { client in
            let account = try await client.createAccount(CreateAccountRequest(name: "Backed", currency: "USD")).account
            let funds = AddFundsRequest(accountId: account.id, amount: 4_200, currency: "USD")
            return try await client.addFunds(funds, options: CallOptions(idempotencyKey: "funds"))
        }
        let numberd = try BuiltProduct.path("numberd")
        let backups = child.dataDirectory + "-backups"
        defer { try? FileManager.default.removeItem(atPath: backups) }
        let arguments = ["backup", "--data-dir", child.dataDirectory, "--backup-dir", backups, "--backups-kept", "1"]

        let running = try await ChildProcess.run(numberd, arguments)
        let refusal = String(decoding: running.output, as: UTF8.self)
        #expect(running.status == 1 && refusal.contains("a numberd runs on"), "\(refusal)")
        #expect(!FileManager.default.fileExists(atPath: backups), "nothing written")

        child.process.send(SIGTERM)
        #expect(await ChildExit.wait(child.process, timeout: .seconds(60)) == .exited(0))
        let first = try await ChildProcess.run(numberd, arguments)
        let firstOutput = String(decoding: first.output, as: UTF8.self)
        #expect(first.status == 0 && firstOutput.contains("numberd backup: OK"), "\(firstOutput)")
        let second = try await ChildProcess.run(numberd, arguments)
        let secondOutput = String(decoding: second.output, as: UTF8.self)
        #expect(second.status == 0 && secondOutput.contains("removed the older backup"), "\(secondOutput)")
        let kept = try FileManager.default.contentsOfDirectory(atPath: backups).filter { $0.hasPrefix("backup-") }
        #expect(kept.count == 1, "\(kept)")

        let verify = try await ChildProcess.run(
            numberd, ["verify", "--data-dir", backups + "/" + (kept.first ?? "")])
        let report = String(decoding: verify.output, as: UTF8.self)
        #expect(verify.status == 0 && report.contains("state: 1 accounts"), "\(report)")

        let none = try await ChildProcess.run(numberd, ["backup", "--data-dir", child.dataDirectory + "-none"])
        #expect(none.status == 2, "\(String(decoding: none.output, as: UTF8.self))")
    }
}
