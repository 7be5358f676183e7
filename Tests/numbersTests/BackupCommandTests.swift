import Foundation
import NIOCore
import NumberAPI
import NumberServer
import Synchronization
import Testing

/// `numbers backup`: what the CLI prints of the backup numberd wrote, and its exit status when numberd refuses.
@Suite("numbers backup")
struct BackupCommandTests {
    @Test("prints where numberd wrote the backup and what it removed; exit 5 while another backup is written")
    func printsTheBackup() async throws {
        let calls = CallCounter()
        var router = RPCRouter()
        router.register(NumbersMethods.createBackup) { _, _ in
            let call = calls.next()
            guard call <= 2 else {
                throw RPCError(code: .aborted, message: "a backup is being written", reason: "BACKUP_IN_PROGRESS")
            }
            return CreateBackupResponse(
                name: "backup-20261201T041500.123Z", path: "/var/lib/numberd/backups/backup-20261201T041500.123Z",
                journalSeq: 42, snapshotBytes: 1234, linked: true,
                createdAt: Date(timeIntervalSince1970: 1_796_098_500.123), removed: ["backup-20261124T041500.000Z"])
        }
        try await withStubServer(router: router) { server in
            let connection = ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin"]
            let written = try await runNumbers(["backup"] + connection)
            #expect(written.status == 0, "\(written)")
            #expect(
                written.stdout.contains(
                    "backup backup-20261201T041500.123Z at /var/lib/numberd/backups/backup-20261201T041500.123Z"),
                "\(written.stdout)")
            #expect(written.stdout.contains("journal seq 42, snapshot 1234 bytes (hard link"), "\(written.stdout)")
            #expect(written.stdout.contains("removed older backup backup-20261124T041500.000Z"), "\(written.stdout)")
            // Found walking the CLI: --json wrote the path as "\/var\/lib\/…" (valid JSON, but not what a grep expects).
            let json = try await runNumbers(["backup", "--json"] + connection)
            #expect(json.status == 0, "\(json)")
            #expect(
                json.stdout.contains(#""path" : "/var/lib/numberd/backups/backup-20261201T041500.123Z""#),
                "\(json.stdout)")
            let busy = try await runNumbers(["backup"] + connection)
            #expect(busy.status == 5, "\(busy)")
            #expect(busy.stderr.contains("BACKUP_IN_PROGRESS"), "\(busy.stderr)")
        }
    }

    /// An operator's walk: a backup numberd failed to write (its disk full) was reported "the outcome is unknown: the
    /// backup may have started and may still be written", exit 10 — a cron job read a failure as a maybe.
    @Test("a backup numberd could not write (BACKUP_FAILED): exit 1, said as failed, not as an outcome unknown")
    func backupFailed() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.createBackup) { _, _ -> CreateBackupResponse in
            throw RPCError(
                code: .internal, message: "backup not written: no room", reason: "BACKUP_FAILED",
                details: ["requestId": "r-1"])
        }
        try await withStubServer(router: router) { server in
            let connection = ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin"]
            let run = try await runNumbers(["backup"] + connection)
            #expect(run.status == 1, "\(run)")
            #expect(run.stderr.contains("BACKUP_FAILED") && run.stderr.contains("backup not written"), "\(run.stderr)")
            #expect(!run.stderr.contains("unknown") && !run.stderr.contains("may still"), "\(run.stderr)")
        }
    }

    @Test("a backup's deadline is 30 minutes unless --timeout says otherwise (a large store's backup outlasts 30 s)")
    func backupDeadline() async throws {
        let deadlines = Deadlines()
        var router = RPCRouter()
        router.register(NumbersMethods.createBackup) { _, context in
            deadlines.record(context.deadline.map { ($0 - .now()).nanoseconds / 1_000_000_000 })
            return CreateBackupResponse(
                name: "backup-20261201T041500.123Z", path: "/b/backup-20261201T041500.123Z", journalSeq: 1,
                snapshotBytes: 1, linked: true, createdAt: Date(timeIntervalSince1970: 1_796_098_500), removed: [])
        }
        try await withStubServer(router: router) { server in
            let connection = ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin"]
            let byDefault = try await runNumbers(["backup"] + connection)
            let given = try await runNumbers(["backup", "--timeout", "90"] + connection)
            #expect(byDefault.status == 0 && given.status == 0, "\(byDefault) \(given)")
            let seen = deadlines.seen
            #expect(seen.count == 2, "\(seen)")
            #expect((1_700...1_800).contains(seen.first.flatMap { $0 } ?? 0), "\(seen)")
            #expect((60...90).contains(seen.last.flatMap { $0 } ?? 0), "\(seen)")
        }
    }

    /// numberd goes on writing a backup whose caller stopped waiting. The advice used to be the default one for an
    /// unkeyed call (look at trunks, keys and accounts, revoke a key whose secret never arrived): nothing of a backup.
    @Test("a backup whose deadline passes: exit 10, how to see whether it is being written, not the create advice")
    func deadlinePassed() async throws {
        let calls = CallCounter()
        var router = RPCRouter()
        router.register(NumbersMethods.createBackup) { _, _ in
            _ = calls.next()
            try await Task.sleep(for: .seconds(60))
            return CreateBackupResponse()
        }
        try await withStubServer(router: router) { server in
            let connection = ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin"]
            // The deadline also covers the connection and its handshake: long enough for the call to be sent.
            let run = try await runNumbers(["backup"] + connection + UnknownOutcomeTests.deadline)
            #expect(run.status == 10, "\(run)")
            #expect(run.stderr.contains("DEADLINE_EXCEEDED"), "\(run.stderr)")
            #expect(run.stderr.contains("BACKUP_IN_PROGRESS (exit 5)"), "\(run.stderr)")
            #expect(run.stderr.contains("numberd_last_backup_timestamp_seconds"), "\(run.stderr)")
            #expect(!run.stderr.contains("revoke an API key"), "\(run.stderr)")
        }
        #expect(calls.next() == 2, "sent once, not retried")
    }

    /// The deadlines the stub saw, in seconds from when it saw them.
    final class Deadlines: Sendable {
        private let value = Mutex<[Int64?]>([])
        func record(_ seconds: Int64?) { value.withLock { $0.append(seconds) } }
        var seen: [Int64?] { value.withLock { $0 } }
    }
}
