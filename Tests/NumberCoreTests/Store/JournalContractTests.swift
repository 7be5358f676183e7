import Foundation
import NumberCore
import Synchronization
import Testing

/// The journal contract, run against `FileJournal` and `InMemoryJournal` alike.
@Suite("Journal contract")
struct JournalContractTests {
    @Test("appended records come back, in order, after a reopen", arguments: JournalKind.allCases)
    func roundTrip(kind: JournalKind) async throws {
        let harness = JournalHarness(kind)
        let first = try harness.open()
        #expect(first.lastSeq == 0)
        #expect(first.state == ToyState())
        let seq1 = try await first.journal.append([.deposit(account: "a", cents: 5)])
        let seq2 = try await first.journal.append([.deposit(account: "b", cents: 7), .note("two events")])
        #expect(seq1 == 1)
        #expect(seq2 == 2)
        #expect(first.journal.durableSeq == 2)
        await first.journal.close()

        let second = try harness.open()
        #expect(second.lastSeq == 2)
        #expect(second.state.balances == ["a": 5, "b": 7])
        #expect(second.state.notes == ["two events"])
        #expect(second.state.applied == 3)
        #expect(second.recovery.replayedRecords == 2)
        let seq3 = try await second.journal.append([.note("after reopen")])
        #expect(seq3 == 3)
        await second.journal.close()
    }

    @Test("a snapshot is loaded and only later records are replayed", arguments: JournalKind.allCases)
    func snapshotThenReplay(kind: JournalKind) async throws {
        let harness = JournalHarness(kind)
        let opened = try harness.open()
        var state = opened.state
        for index in 1...5 {
            let event = ToyEvent.deposit(account: "a", cents: Int64(index))
            _ = try await opened.journal.append([event])
            try toyApply(&state, event)
        }
        try await opened.journal.writeSnapshot(state, throughSeq: 5)
        #expect(opened.journal.snapshotSeq == 5)
        _ = try await opened.journal.append([.note("after snapshot")])
        await opened.journal.close()

        let reopened = try harness.open()
        #expect(reopened.recovery.snapshotSeq == 5)
        #expect(reopened.recovery.replayedRecords == 1)
        #expect(reopened.lastSeq == 6)
        #expect(reopened.state.balances == ["a": 15])
        #expect(reopened.state.notes == ["after snapshot"])
        #expect(reopened.state.applied == 6)
        await reopened.journal.close()
    }

    @Test("a snapshot must be durable and not older than the newest", arguments: JournalKind.allCases)
    func snapshotSeqBounds(kind: JournalKind) async throws {
        let harness = JournalHarness(kind)
        let opened = try harness.open()
        _ = try await opened.journal.append([.note("one")])
        _ = try await opened.journal.append([.note("two")])
        await #expect(throws: JournalError.self) { try await opened.journal.writeSnapshot(ToyState(), throughSeq: 3) }
        let state = ToyState(notes: ["one", "two"], applied: 2)
        try await opened.journal.writeSnapshot(state, throughSeq: 2)
        let error = await #expect(throws: JournalError.self) {
            try await opened.journal.writeSnapshot(ToyState(), throughSeq: 1)
        }
        #expect(error?.code == .invalidSnapshotSeq)
        // The same seq again is accepted and changes nothing: the snapshot written first stands.
        try await opened.journal.writeSnapshot(ToyState(notes: ["other"], applied: 2), throughSeq: 2)
        #expect(opened.journal.snapshotSeq == 2)
        await opened.journal.close()
        let reopened = try harness.open()
        #expect(reopened.recovery.snapshotSeq == 2)
        #expect(reopened.state == state)
        await reopened.journal.close()
    }

    @Test("recordBytesMax: a record at the limit is taken, one byte over is refused", arguments: JournalKind.allCases)
    func recordLimit(kind: JournalKind) async throws {
        // `[{"note":{"_0":"<text>"}}]` is 20 bytes plus the text.
        let limit = 100
        var options = quietOptions()
        options.limits.recordBytesMax = limit
        let harness = JournalHarness(kind, options: options)
        let opened = try harness.open()
        let atLimit = String(repeating: "x", count: limit - 20)
        let encoded = try JSONEncoder().encode([ToyEvent.note(atLimit)])
        #expect(encoded.count == limit)
        #expect(try await opened.journal.append([.note(atLimit)]) == 1)
        let error = await #expect(throws: JournalError.self) {
            _ = try await opened.journal.append([.note(atLimit + "x")])
        }
        #expect(error?.code == .recordTooLarge)
        #expect(opened.journal.durableSeq == 1)
        await opened.journal.close()
    }

    @Test("an empty record is refused", arguments: JournalKind.allCases)
    func emptyRecord(kind: JournalKind) async throws {
        let harness = JournalHarness(kind)
        let opened = try harness.open()
        let error = await #expect(throws: JournalError.self) { _ = try await opened.journal.append([]) }
        #expect(error?.code == .emptyRecord)
        await opened.journal.close()
    }

    @Test("after close, appends and snapshots are refused", arguments: JournalKind.allCases)
    func closed(kind: JournalKind) async throws {
        let harness = JournalHarness(kind)
        let opened = try harness.open()
        _ = try await opened.journal.append([.note("one")])
        await opened.journal.close()
        await opened.journal.close()
        let error = await #expect(throws: JournalError.self) { _ = try await opened.journal.append([.note("x")]) }
        #expect(error?.code == .closed)
        await #expect(throws: JournalError.self) { try await opened.journal.writeSnapshot(ToyState(), throughSeq: 1) }
    }

    @Test("a second open of the same journal is refused while the first is open", arguments: JournalKind.allCases)
    func exclusiveOpen(kind: JournalKind) async throws {
        let harness = JournalHarness(kind)
        let opened = try harness.open()
        let error = #expect(throws: JournalError.self) { _ = try harness.open() }
        #expect(error?.code == .locked)
        await opened.journal.close()
        let again = try harness.open()
        await again.journal.close()
    }

    @Test("a failing apply at open names the record", arguments: JournalKind.allCases)
    func replayFailure(kind: JournalKind) async throws {
        let harness = JournalHarness(kind)
        let opened = try harness.open()
        _ = try await opened.journal.append([.deposit(account: "a", cents: 1)])
        _ = try await opened.journal.append([.deposit(account: "a", cents: -1)])
        await opened.journal.close()
        let error = #expect(throws: JournalError.self) { _ = try harness.open() }
        #expect(error?.code == .replayFailed)
        #expect(error?.message.contains("record 2") == true)
    }

    @Test(
        "enqueue under the owner's lock: seq order is apply order, and a reopen rebuilds the same state",
        arguments: JournalKind.allCases)
    func enqueueUnderLock(kind: JournalKind) async throws {
        let harness = JournalHarness(kind)
        let opened = try harness.open()
        let journal = opened.journal
        let owner = OwnerState(opened.state)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<16 {
                group.addTask {
                    for index in 0..<10 {
                        let event = ToyEvent.note("w\(writer)-\(index)")
                        let pending = try owner.state.withLock { state in
                            let pending = try journal.enqueue([event])
                            try toyApply(&state, event)
                            #expect(state.applied == Int(pending.seq))
                            return pending
                        }
                        try await pending.durable()
                        #expect(journal.durableSeq >= pending.seq)
                        // A second wait returns the same outcome at once.
                        try await pending.durable()
                    }
                }
            }
            try await group.waitForAll()
        }
        let inMemory = owner.state.withLock { $0 }
        try await journal.writeSnapshot(inMemory, throughSeq: 160)
        await journal.close()
        #expect(throws: JournalError.self) { _ = try journal.enqueue([.note("late")]) }
        let reopened = try harness.open()
        #expect(reopened.state == inMemory)
        #expect(reopened.lastSeq == 160)
        await reopened.journal.close()
    }
}

/// The owner's in-memory state behind its lock, as a store built on the journal keeps it.
final class OwnerState: Sendable {
    let state: Mutex<ToyState>
    init(_ state: ToyState) { self.state = Mutex(state) }
}
