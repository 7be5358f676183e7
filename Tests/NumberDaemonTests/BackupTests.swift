import Foundation
import NumberAPI
import NumberClient
import NumberCore
import NumberDaemon
import Prometheus
import TestSupport
import Testing

/// CreateBackup end to end over TLS: an operator backs up a running numberd, checks the copy with `numberd verify`,
/// and a numberd started on a restored copy serves the state as of the backup.
@Suite("numberd: online backups")
struct BackupTests {
    @Test("a backup while numberd serves verifies, keeps --backups-kept, and restores the state as of the call")
    func backupVerifyAndRestore() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-backup-\(UUID())").path
        let restoredDirectory = directory + "-restored"
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.removeItem(atPath: restoredDirectory)
        }
        let registry = PrometheusCollectorRegistry()
        var first: CreateBackupResponse?
        var backedUpBalance: Int64 = 0
        var accountId = ""
        try await withNumberd(dataDirectory: directory, metrics: registry, configure: { $0.backupsKept = 1 }) {
            numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let acme = try await makeAccount(admin, name: "Acme", funds: 10_000)
                accountId = acme.id
                let search = try await admin.searchNumbers(
                    SearchNumbersRequest(accountId: acme.id, country: "US", areaCode: "415", limit: 1))
                _ = try await admin.purchaseNumbers(
                    PurchaseNumbersRequest(
                        accountId: acme.id, country: "US", numbers: [search.numbers[0].phoneNumber]))
                backedUpBalance = try await admin.getBalance(GetBalanceRequest(accountId: acme.id)).balance

                // An account key may not.
                try await withNumbersClient(numberd.client(key: acme.key)) { client in
                    let refused = await #expect(throws: RPCError.self) {
                        try await client.createBackup(CreateBackupRequest())
                    }
                    #expect(refused?.code == .permissionDenied, "\(String(describing: refused))")
                }
                let backup = try await admin.createBackup(CreateBackupRequest())
                first = backup
                #expect(backup.name.hasPrefix("backup-") && backup.path == directory + "/backups/" + backup.name)
                #expect(backup.journalSeq > 0 && backup.snapshotBytes > 0 && backup.linked && backup.removed.isEmpty)
                #expect(
                    try FileManager.default.contentsOfDirectory(atPath: backup.path).sorted()
                        == ["provider.json", "store"])
                // Written after the backup: not in it.
                _ = try await admin.addFunds(AddFundsRequest(accountId: acme.id, amount: 1, currency: "USD"))

                let verified = try await runNumberdVerify(dataDirectory: backup.path)
                #expect(verified.status == 0 && verified.output.contains("numberd verify: OK"), "\(verified.output)")

                // --backups-kept 1: the next one removes the first.
                try await Task.sleep(for: .milliseconds(5))
                let second = try await admin.createBackup(CreateBackupRequest())
                #expect(second.removed == [backup.name] && second.journalSeq > backup.journalSeq)
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/backups") == [second.name])
                let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
                #expect(text.contains(#"numberd_backups_total{outcome="written"} 2"#), "\(text)")
                #expect(text.contains("numberd_last_backup_timestamp_seconds"), "\(text)")
            }
        }
        // A restore: the data directory with the backup's store in place of its own (the simulator's state, which
        // stands for Twilio's, stays as it is).
        #expect(first != nil)
        let backups = directory + "/backups"
        let second = try #require(try FileManager.default.contentsOfDirectory(atPath: backups).first)
        try FileManager.default.copyItem(atPath: directory, toPath: restoredDirectory)
        try FileManager.default.removeItem(atPath: restoredDirectory + "/store")
        try FileManager.default.copyItem(
            atPath: backups + "/" + second + "/store", toPath: restoredDirectory + "/store")
        try await withNumberd(dataDirectory: restoredDirectory) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let balance = try await admin.getBalance(GetBalanceRequest(accountId: accountId))
                // The second backup holds the 1 added after the first.
                #expect(balance.balance == backedUpBalance + 1)
                let numbers = try await admin.listNumbers(ListNumbersRequest(accountId: accountId))
                #expect(numbers.numbers.count == 1)
            }
        }
    }

    @Test("a backup that cannot be written is INTERNAL / BACKUP_FAILED with the reason, counted, and numberd serves on")
    func failedBackupIsReported() async throws {
        let registry = PrometheusCollectorRegistry()
        // A backup directory under a file: its folder can never be made.
        try await withNumberd(metrics: registry, configure: { $0.backupDirectory = "/dev/null/backups" }) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let failed = await #expect(throws: RPCError.self) {
                    try await admin.createBackup(CreateBackupRequest())
                }
                #expect(failed?.code == .internal && failed?.reason == "BACKUP_FAILED", "\(String(describing: failed))")
                #expect(failed?.message.contains("/dev/null/backups") == true, "\(String(describing: failed))")
                let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
                #expect(text.contains(#"numberd_backups_total{outcome="failed"} 1"#), "\(text)")
                let health = try await admin.healthCheck(HealthCheckRequest())
                #expect(health.status == .serving)
            }
        }
    }
}
