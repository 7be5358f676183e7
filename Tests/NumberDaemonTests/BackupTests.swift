import Foundation
import NumberAPI
import NumberClient
import NumberCore
import NumberDaemon
import Prometheus
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

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
                #expect(failed?.details["requestId"]?.isEmpty == false, "to quote: \(String(describing: failed))")
                let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
                #expect(text.contains(#"numberd_backups_total{outcome="failed"} 1"#), "\(text)")
                let health = try await admin.healthCheck(HealthCheckRequest())
                #expect(health.status == .serving)
            }
        }
    }

    /// A backup disk that stalls (a hard-mounted NFS share whose server is down): every look at it waits until
    /// `open()` — or ten minutes, so that a test that fails ends — and is counted.
    final class StalledDisk: Sendable {
        private struct State {
            var opened = false
            var resolves = 0
            var lists = 0
        }

        private let state = Mutex(State())
        private let openedBy = ContinuousClock.now + .seconds(600)

        /// The looks at the backup directory numberd makes, each held until the disk answers.
        var probe: BackupDirectoryProbe {
            BackupDirectoryProbe(
                resolve: { path in
                    self.state.withLock { $0.resolves += 1 }
                    self.waitUntilOpen()
                    return BackupDirectoryProbe.system.resolve(path)
                },
                list: { path in
                    self.state.withLock { $0.lists += 1 }
                    self.waitUntilOpen()
                    return BackupDirectoryProbe.system.list(path)
                })
        }

        var resolves: Int { state.withLock { $0.resolves } }
        var lists: Int { state.withLock { $0.lists } }

        /// Lets every look, held or later, through.
        func open() { state.withLock { $0.opened = true } }

        private func waitUntilOpen() {
            while !state.withLock({ $0.opened }), ContinuousClock.now < openedBy { usleep(10_000) }
        }
    }

    @Test("a backup directory whose disk stalls holds up neither the start, nor a reload, nor the stop")
    func stalledBackupDirectory() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-stalled-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let disk = StalledDisk()
        defer { disk.open() }
        let backups = folder + "/backups"
        let config = folder + "/numberd.json"
        try Data(#"{"log-level": "info"}"#.utf8).write(to: URL(fileURLWithPath: config))
        let origin = try NumberdConfiguration.Origin(flags: ["config": config], environment: [:])
        let began = ContinuousClock.now
        try await withNumberd(
            configure: {
                $0.origin = origin
                $0.backupDirectory = backups
                $0.backupDirectoryProbe = disk.probe
            }
        ) { numberd in
            // Below the disk's 600 s stall, with room for a start on a machine busy with the whole suite (64 s seen).
            #expect(ContinuousClock.now - began < .seconds(500), "the start waited for the backup disk")
            try Data(#"{"log-level": "debug"}"#.utf8).write(to: URL(fileURLWithPath: config))
            // Unchanged when a SIGHUP another suite sent this process (every in-process numberd traps it) came first.
            let reload = numberd.numberd.reloadSettings()
            #expect(reload == .changed || reload == .unchanged, "\(reload)")
            #expect(numberd.numberd.logLevel == .debug)
            #expect(disk.resolves == 0, "a start or a reload looked at the backup directory")
            // A backup waits for the disk, behind the start's listing of the backups there; its caller stops waiting.
            try await withNumbersClient(numberd.client()) { admin in
                _ = try await admin.healthCheck(HealthCheckRequest())  // connected: the deadline is the backup's
                let waited = await #expect(throws: RPCError.self) {
                    try await admin.createBackup(CreateBackupRequest(), options: CallOptions(timeout: .seconds(2)))
                }
                #expect(waited?.code == .deadlineExceeded, "\(String(describing: waited))")
            }
        }
        // The stop did not wait for the backup the disk still holds (the drain is 30 s; the disk answers at 600 s; a
        // loaded full run took 105 s from the start to the end of the stop, past the 100 s bound of a 120 s stall).
        #expect(ContinuousClock.now - began < .seconds(500), "the stop waited for the backup disk")
        #expect(disk.lists == 1, "the start's listing of the backups is on the backup queue, which waits for the disk")
        // The disk answers: the backup it held runs on alone, after numberd stopped; it ends before the folder goes.
        disk.open()
        func backupRuns() -> Bool {
            guard disk.resolves > 0, let names = try? FileManager.default.contentsOfDirectory(atPath: backups) else {
                return true
            }
            return names.contains(where: { $0.hasPrefix(".") })
        }
        let settled = ContinuousClock.now + .seconds(60)
        while backupRuns(), ContinuousClock.now < settled { try await Task.sleep(for: .milliseconds(20)) }
    }

    /// A backup outlives its call (a client deadline shorter than a slow backup): it was counted only where the call
    /// waited, so one written after the call stopped waiting was never counted nor its time recorded, and the
    /// "backups stopped" alert fired while backups were written.
    @Test("a backup that ends after its call stopped waiting is counted written and its time recorded")
    func backupEndingAfterItsCallIsCounted() async throws {
        let registry = PrometheusCollectorRegistry()
        let disk = StalledDisk()
        defer { disk.open() }
        try await withNumberd(metrics: registry, configure: { $0.backupDirectoryProbe = disk.probe }) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                _ = try await admin.healthCheck(HealthCheckRequest())  // connected: the deadline is the backup's
                // Long enough for the call to reach numberd and start its backup on a loaded machine (1 s once ran
                // out first: no backup was started, and none was written), far shorter than the disk's stall.
                let waited = await #expect(throws: RPCError.self) {
                    try await admin.createBackup(CreateBackupRequest(), options: CallOptions(timeout: .seconds(30)))
                }
                #expect(
                    waited?.code == .deadlineExceeded || waited?.code == .cancelled, "\(String(describing: waited))")
            }
            let metrics = { String(decoding: registry.emitToBuffer(), as: UTF8.self) }
            let written = #"numberd_backups_total{outcome="written"} 1"#
            #expect(metrics().contains(#"numberd_backups_total{outcome="written"} 0"#), "\(metrics())")
            // The disk answers: the backup the call left goes on alone, and ends written.
            disk.open()
            let settled = ContinuousClock.now + .seconds(300)
            while !metrics().contains(written), ContinuousClock.now < settled {
                try await Task.sleep(for: .milliseconds(20))
            }
            let text = metrics()
            #expect(text.contains(written), "\(text)")
            #expect(text.contains(#"numberd_backups_total{outcome="failed"} 0"#), "\(text)")
            #expect(text.contains("numberd_last_backup_timestamp_seconds"), "\(text)")
            let names = try FileManager.default.contentsOfDirectory(atPath: numberd.dataDirectory + "/backups")
            #expect(names.count == 1 && names.allSatisfy { $0.hasPrefix("backup-") }, "\(names)")
        }
    }

    @Test("a backup-dir that reaches into the store through a symbolic link starts, and each backup is refused")
    func backupDirectoryLinkedIntoTheStore() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-linked-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/store", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: directory + "/into-store", withDestinationPath: directory + "/store")
        // The start compares the paths as written, looking at nothing in the backup directory.
        try await withNumberd(
            dataDirectory: directory, configure: { $0.backupDirectory = directory + "/into-store/backups" }
        ) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                // A loaded start (the test process's first minute) took the client's default 30 s once.
                let refused = await #expect(throws: RPCError.self) {
                    try await admin.createBackup(CreateBackupRequest(), options: CallOptions(timeout: .seconds(180)))
                }
                #expect(refused?.reason == "BACKUP_FAILED", "\(String(describing: refused))")
                #expect(refused?.message.contains("must not be the store folder") == true)
            }
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/store/backups"), "nothing written in the store")
    }
}
