import Foundation
import NumberAPI
import NumberClient
import NumberCore
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `numberd backup`: a stopped numberd's data directory backed up as `numbers backup` backs up a running one — refused
/// while numberd runs, written with retention once it is stopped (killed: its newest snapshot behind the journal), and
/// what it writes verifies as a data directory holding every acknowledged write; a store of an older format is refused
/// unchanged (opening it would upgrade it, cutting off a rollback).
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

        let store = child.dataDirectory + "/store"
        let before = try FileManager.default.contentsOfDirectory(atPath: store).sorted()
        let running = try await ChildProcess.run(numberd, arguments)
        let refusal = String(decoding: running.output, as: UTF8.self)
        #expect(running.status == 1 && refusal.contains("a running numberd"), "\(refusal)")
        #expect(!FileManager.default.fileExists(atPath: backups), "nothing written")
        #expect(try FileManager.default.contentsOfDirectory(atPath: store).sorted() == before)

        // Killed, not stopped: no shutdown snapshot, so the backup writes one of the journal's records first.
        child.process.send(SIGKILL)
        #expect(await ChildExit.wait(child.process, timeout: .seconds(60)) == .signalled(SIGKILL))
        let first = try await ChildProcess.run(numberd, arguments)
        let firstOutput = String(decoding: first.output, as: UTF8.self)
        #expect(first.status == 0 && firstOutput.contains("numberd backup: OK"), "\(firstOutput)")
        let second = try await ChildProcess.run(numberd, arguments)
        let secondOutput = String(decoding: second.output, as: UTF8.self)
        #expect(second.status == 0 && secondOutput.contains("removed the older backup"), "\(secondOutput)")
        let kept = try FileManager.default.contentsOfDirectory(atPath: backups).filter { $0.hasPrefix("backup-") }
        #expect(kept.count == 1, "\(kept)")

        let backup = backups + "/" + (kept.first ?? "")
        let verify = try await ChildProcess.run(numberd, ["verify", "--data-dir", backup])
        let report = String(decoding: verify.output, as: UTF8.self)
        #expect(verify.status == 0 && report.contains("state: 1 accounts"), "\(report)")
        let backedUp = try FileNumberStore.open(directory: URL(fileURLWithPath: backup + "/store"))
        let state = try await backedUp.load()
        await backedUp.close()
        #expect(state.accounts.values.map(\.balance) == [4_200], "every acknowledged write is in it")

        // A store of an older format: refused, FORMAT left as it was.
        let format = store + "/FORMAT"
        try #"{"format":2,"readers":2}"#.write(toFile: format, atomically: false, encoding: .utf8)
        let older = try await ChildProcess.run(numberd, arguments)
        let olderOutput = String(decoding: older.output, as: UTF8.self)
        #expect(older.status == 1 && olderOutput.contains("of format 2"), "\(olderOutput)")
        #expect(olderOutput.contains("opening it would upgrade it"), "\(olderOutput)")
        // A newer one: refused as unreadable (it said "opening it would upgrade it" of this one too).
        let newerFormat = #"{"format":\#(StoreFormat.current.format + 1),"readers":\#(StoreFormat.current.format)}"#
        try newerFormat.write(toFile: format, atomically: false, encoding: .utf8)
        let newer = try await ChildProcess.run(numberd, arguments)
        let newerOutput = String(decoding: newer.output, as: UTF8.self)
        #expect(newer.status == 1 && newerOutput.contains("cannot read a newer store"), "\(newerOutput)")
        #expect(!newerOutput.contains("upgrade"), "\(newerOutput)")
        #expect(try String(contentsOfFile: format, encoding: .utf8) == newerFormat)
        try #"{"format":2,"readers":2}"#.write(toFile: format, atomically: false, encoding: .utf8)

        let none = try await ChildProcess.run(numberd, ["backup", "--data-dir", child.dataDirectory + "-none"])
        #expect(none.status == 2, "\(String(decoding: none.output, as: UTF8.self))")

        // A setting out of range is a usage error (64), before anything is opened.
        for bad in [["--backups-kept", "0"], ["--backups-kept", "1001"], ["--backup-dir", store + "/inside"]] {
            let refused = try await ChildProcess.run(numberd, ["backup", "--data-dir", child.dataDirectory] + bad)
            #expect(refused.status == 64, "\(bad): \(String(decoding: refused.output, as: UTF8.self))")
        }
        #expect(try String(contentsOfFile: format, encoding: .utf8) == #"{"format":2,"readers":2}"#, "nothing opened")
    }
}
