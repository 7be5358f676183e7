import Foundation
import Synchronization
import Testing

@testable import NumberCore

/// Write and sync failures: fail-stop through the fatal handler, never a false acknowledgement.
@Suite("FileJournal fault injection")
struct FaultInjectionTests {
    struct Fault: Sendable, CustomTestStringConvertible {
        var operation: FaultInjectingFileSystem.Operation
        var errno: Int32
        var testDescription: String { "\(operation.rawValue) \(errno == ENOSPC ? "ENOSPC" : "EIO")" }
    }

    static let faults = [
        Fault(operation: .write, errno: ENOSPC), Fault(operation: .write, errno: EIO),
        Fault(operation: .fdatasync, errno: ENOSPC), Fault(operation: .fdatasync, errno: EIO),
    ]

    @Test("a failed write or sync calls the fatal handler once and acknowledges nothing more", arguments: faults)
    func failStop(fault: Fault) async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let recorder = FatalRecorder()
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: recorder.options(fileSystem: fileSystem), initialState: ToyState(),
            apply: toyApply)
        let journal = opened.journal
        for index in 1...3 { _ = try await journal.append([.deposit(account: "a", cents: Int64(index))]) }
        // The next journal write/sync fails; it is slow to fail so that more appenders wait behind it.
        fileSystem.addRule(.init(.fdatasync, pathContains: "journal-", action: .delay(milliseconds: 100)))
        fileSystem.addRule(.init(fault.operation, pathContains: "journal-", action: .fail(errno: fault.errno)))
        let results = await withTaskGroup(of: Result<UInt64, JournalError>.self) { group in
            for index in 0..<20 {
                group.addTask {
                    do {
                        return .success(try await journal.append([.note("n\(index)")]))
                    } catch {
                        return .failure(error as! JournalError)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(recorder.recorded.count == 1)
        #expect(recorder.recorded.first?.errno == fault.errno)
        let successes = results.compactMap { try? $0.get() }
        // With a write fault the first batch fails, so nobody of the 20 may succeed; with a sync fault the same.
        #expect(successes.isEmpty, "acknowledged \(successes) after a failed \(fault.operation)")
        for case .failure(let error) in results { #expect(error.code == .failed) }
        let later = await #expect(throws: JournalError.self) { _ = try await journal.append([.note("later")]) }
        #expect(later?.code == .failed)
        await #expect(throws: JournalError.self) { try await journal.writeSnapshot(ToyState(), throughSeq: 3) }
        await journal.close()

        // The failed batch was cut off before the stop: its bytes may sit in the page cache after a failed
        // writeback (this file system wrote them), and a restart that replayed them would build on records that were
        // never durable. A restart recovers exactly the acknowledged records.
        let reopened = try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(), initialState: ToyState(), apply: toyApply)
        #expect(reopened.lastSeq == 3)
        #expect(reopened.state.balances == ["a": 6])
        #expect(reopened.state.notes.isEmpty)
        #expect(reopened.recovery.tornFiles.isEmpty, "cut by the writer, not left for recovery as a torn tail")
        await reopened.journal.close()
    }

    @Test("a failing snapshot sync stops the journal; the journal still reopens")
    func snapshotFailure() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let recorder = FatalRecorder()
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: recorder.options(fileSystem: fileSystem), initialState: ToyState(),
            apply: toyApply)
        var state = opened.state
        let event = ToyEvent.deposit(account: "a", cents: 9)
        _ = try await opened.journal.append([event])
        try toyApply(&state, event)
        fileSystem.addRule(.init(.fdatasync, pathContains: "snapshot-", action: .fail(errno: EIO)))
        let error = await #expect(throws: JournalError.self) {
            try await opened.journal.writeSnapshot(state, throughSeq: 1)
        }
        #expect(error?.code == .failed)
        #expect(recorder.recorded.count == 1)
        await #expect(throws: JournalError.self) { _ = try await opened.journal.append([.note("after")]) }
        await opened.journal.close()
        let reopened = try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(), initialState: ToyState(), apply: toyApply)
        #expect(reopened.recovery.snapshotSeq == nil)
        #expect(reopened.state.balances == ["a": 9])
        await reopened.journal.close()
    }

    @Test("a failing directory sync after a snapshot rename stops the journal")
    func directorySyncFailure() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let recorder = FatalRecorder()
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: recorder.options(fileSystem: fileSystem), initialState: ToyState(),
            apply: toyApply)
        _ = try await opened.journal.append([.note("one")])
        fileSystem.addRule(.init(.fsyncDirectory, action: .fail(errno: EIO)))
        await #expect(throws: JournalError.self) { try await opened.journal.writeSnapshot(ToyState(), throughSeq: 1) }
        #expect(recorder.recorded.map(\.operation) == ["fsyncDirectory"])
        await opened.journal.close()
    }

    @Test("the stall check: a start recorded after the clock was read is no stall (it used to trap), the limit's edge")
    func stallArithmetic() {
        #expect(!ioStalled(since: nil, now: 5_000, limit: 1_000))
        #expect(!ioStalled(since: 5_001, now: 5_000, limit: 1_000))
        #expect(!ioStalled(since: UInt64.max, now: 0, limit: 0))
        #expect(!ioStalled(since: 4_000, now: 5_000, limit: 1_000))
        #expect(ioStalled(since: 3_999, now: 5_000, limit: 1_000))
    }

    @Test("ioStallMaxMilliseconds: a sync hanging past the limit stops the journal; a slow one within it does not")
    func stalledSync() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let recorder = FatalRecorder()
        var options = recorder.options(fileSystem: fileSystem)
        options.limits.ioStallMaxMilliseconds = 1000
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: options, initialState: ToyState(), apply: toyApply)
        // Within the limit: slow but acknowledged.
        fileSystem.addRule(.init(.fdatasync, pathContains: "journal-", occurrence: 1, action: .delay(milliseconds: 20)))
        #expect(try await opened.journal.append([.note("slow")]) == 1)
        #expect(recorder.recorded.isEmpty)
        // Past it: the watchdog stops the journal and the stuck appender is never acknowledged.
        fileSystem.addRule(
            .init(.fdatasync, pathContains: "journal-", occurrence: 1, action: .delay(milliseconds: 2500)))
        let error = await #expect(throws: JournalError.self) { _ = try await opened.journal.append([.note("stuck")]) }
        #expect(error?.code == .failed)
        #expect(recorder.recorded.map(\.errno) == [ETIMEDOUT])
        await opened.journal.close()
    }

    @Test("an enqueued record whose sync fails is never reported durable")
    func enqueueThenFailure() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let recorder = FatalRecorder()
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: recorder.options(fileSystem: fileSystem), initialState: ToyState(),
            apply: toyApply)
        fileSystem.addRule(.init(.fdatasync, pathContains: "journal-", action: .fail(errno: EIO)))
        let pending = try opened.journal.enqueue([.note("lost")])
        #expect(pending.seq == 1)
        let error = await #expect(throws: JournalError.self) { try await pending.durable() }
        #expect(error?.code == .failed)
        #expect(opened.journal.durableSeq == 0)
        #expect(throws: JournalError.self) { _ = try opened.journal.enqueue([.note("after")]) }
        await opened.journal.close()
    }
}
