import Dispatch
import Foundation
import Synchronization
import Testing

@testable import TwilioSimulator

/// The state file's journal: every change is one synced line, a restart replays the lines and compacts them into the
/// snapshot, a torn last line (never answered) is cut off, damage before it stops the start, the journal is folded
/// into the snapshot at its bound, a failed sync is answered 500 and stops all later changes (never retried), and
/// concurrent changes all come back after a restart.
@Suite struct SimulatorJournalTests {
    /// The test's own directory, removed when the test ends.
    private let scratch: ScratchDirectory
    private var directory: String
    private var path: String { directory + "/state.json" }
    private var journalPath: String { path + ".journal" }

    init() throws {
        scratch = try ScratchDirectory(prefix: "sim-journal")
        directory = scratch.path
    }

    private func configuration(recordsMax: Int = 50_000, bytesMax: Int = 8 << 20) -> SimulatorConfiguration {
        var configuration = SimulatorConfiguration.defaults
        configuration.stateFile = path
        configuration.limits.stateJournalRecordsMax = recordsMax
        configuration.limits.stateJournalBytesMax = bytesMax
        return configuration
    }

    private func engine(
        _ configuration: SimulatorConfiguration? = nil, operations: SimulatorFileOperations = .system
    ) throws -> SimulatorEngine {
        try SimulatorEngine(configuration: configuration ?? self.configuration(), fileOperations: operations)
    }

    private static func buy(_ engine: SimulatorEngine, _ number: String) -> (status: Int, sid: String?) {
        let reply = engine.send("POST", engine.api + "/IncomingPhoneNumbers.json", form: [("PhoneNumber", number)])
        return (reply.status, reply.json["sid"] as? String)
    }

    private static func numbers(_ engine: SimulatorEngine, _ count: Int) -> [String] {
        engine.availableNumbers(country: "US", type: .local, limit: count).map(\.phoneNumber)
    }

    private func journalLines() throws -> [Data] {
        let data = try Data(contentsOf: URL(fileURLWithPath: journalPath))
        return data.split(separator: UInt8(ascii: "\n")).map { Data($0) }
    }

    private func snapshot() throws -> SimulatorStateFile.Contents {
        try JSONDecoder().decode(SimulatorStateFile.Contents.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    private func expectSameAccount(_ restarted: SimulatorEngine, _ live: SimulatorEngine) {
        #expect(restarted.ownedNumbers == live.ownedNumbers)
        #expect(restarted.trunks == live.trunks)
        #expect(
            restarted.withState { $0.durableContents(seed: 1) } == live.withState { $0.durableContents(seed: 1) })
    }

    // MARK: - Restarts

    @Test func changesSurviveRestartsThroughTheJournal() throws {
        let first = try engine()
        #expect(!FileManager.default.fileExists(atPath: path), "nothing is written before the first change")
        let trunk = try #require(
            first.send("POST", "/v1/Trunks", form: [("DomainName", "a.pstn.twilio.com")]).json["sid"] as? String)
        // The first change wrote the empty account as the snapshot, then its line.
        #expect(try snapshot().numbers.isEmpty && snapshot().trunks.isEmpty && snapshot().journalSequence == 0)
        let numbers = Self.numbers(first, 3)
        let sids = try numbers.map { try #require(Self.buy(first, $0).sid) }
        #expect(
            first.send("POST", "/v1/Trunks/\(trunk)/PhoneNumbers", form: [("PhoneNumberSid", sids[0])]).0 == 201)
        #expect(
            first.send(
                "POST", first.api + "/IncomingPhoneNumbers/\(sids[1]).json",
                form: [("FriendlyName", "desk"), ("VoiceUrl", "https://pbx.test/in")]
            ).0 == 200)
        #expect(first.send("DELETE", first.api + "/IncomingPhoneNumbers/\(sids[2]).json").0 == 204)
        #expect(first.send("POST", "/v1/Trunks/\(trunk)", form: [("FriendlyName", "pbx")]).0 == 200)
        // Refused and read-only requests write nothing.
        #expect(first.send("DELETE", first.api + "/IncomingPhoneNumbers/\(sids[2]).json").0 == 404)
        #expect(first.send("GET", first.api + "/IncomingPhoneNumbers.json").0 == 200)
        #expect(try journalLines().count == 8)
        #expect(try snapshot().journalSequence == 0, "no compaction while running below the bound")

        let second = try engine()
        expectSameAccount(second, first)
        #expect(second.ownedNumbers.map(\.sid) == [sids[0], sids[1]])
        #expect(second.ownedNumbers.last?.fields["voice_url"] == "https://pbx.test/in")
        // The start folded the journal into the snapshot.
        #expect(try snapshot().journalSequence == 8 && snapshot().numbers.count == 2)
        #expect(try journalLines().isEmpty)

        let again = try #require(Self.buy(second, numbers[2]).sid)
        #expect(!sids.contains(again))
        #expect(second.send("DELETE", "/v1/Trunks/\(trunk)").0 == 204)
        let lines = try journalLines().map { try JSONDecoder().decode(SimulatorJournal.Record.self, from: $0) }
        #expect(lines.map(\.seq) == [9, 10])
        // Deleting the trunk carried the number it cleared.
        #expect(lines[1].deletedTrunks == [trunk] && lines[1].numbers.map(\.value.sid) == [sids[0]])

        let third = try engine()
        expectSameAccount(third, second)
        #expect(third.ownedNumbers.map(\.sid) == [sids[0], sids[1], again])
        #expect(third.ownedNumbers.allSatisfy { $0.trunkSid == nil } && third.trunks.isEmpty)
        #expect(third.isAvailable(numbers[2]) == false)
    }

    @Test func originationUrlsSurviveRestartsAndGoWithTheirTrunk() throws {
        let first = try engine()
        let trunk = try #require(first.send("POST", "/v1/Trunks").json["sid"] as? String)
        let form = [
            ("SipUrl", "sip:pbx.example.com"), ("FriendlyName", "pbx"), ("Weight", "10"), ("Priority", "10"),
            ("Enabled", "true"),
        ]
        let route = try #require(
            first.send("POST", "/v1/Trunks/\(trunk)/OriginationUrls", form: form).json["sid"] as? String)
        let second = try engine()
        expectSameAccount(second, first)
        #expect(second.trunks.first?.originationUrls?.map(\.sid) == [route])
        let listed = second.send("GET", "/v1/Trunks/\(trunk)/OriginationUrls").json["origination_urls"]
        #expect((listed as? [[String: Any]])?.map { $0["sip_url"] as? String } == ["sip:pbx.example.com"])
        // The SID generator's position came back with them: the next route's SID is a new one.
        let another = try #require(
            second.send("POST", "/v1/Trunks/\(trunk)/OriginationUrls", form: form).json["sid"] as? String)
        #expect(another != route)
        #expect(second.send("DELETE", "/v1/Trunks/\(trunk)").0 == 204)
        #expect(try engine().trunks.isEmpty, "the trunk's routes went with it")
    }

    @Test func theJournalCompactsAtItsBound() throws {
        let first = try engine(configuration(recordsMax: 4))
        let numbers = Self.numbers(first, 10)
        var sids: [String] = []
        for (index, number) in numbers.enumerated() {
            sids.append(try #require(Self.buy(first, number).sid))
            let written = index + 1
            // Every fourth line folds the journal into the snapshot, under the lock.
            #expect(try journalLines().count == written % 4)
            #expect(try snapshot().journalSequence == written / 4 * 4)
            #expect(try snapshot().numbers.count == written / 4 * 4)
        }
        for sid in sids.prefix(3) {
            #expect(first.send("DELETE", first.api + "/IncomingPhoneNumbers/\(sid).json").0 == 204)
        }
        #expect(try journalLines().count == 1 && snapshot().journalSequence == 12)
        let second = try engine(configuration(recordsMax: 4))
        expectSameAccount(second, first)
        #expect(second.ownedNumbers.count == 7)

        // The byte bound: a bound below one line compacts after every change, leaving the journal empty.
        let third = try engine(configuration(bytesMax: 1))
        #expect(third.send("DELETE", third.api + "/IncomingPhoneNumbers/\(sids[3]).json").0 == 204)
        #expect(try journalLines().isEmpty && snapshot().journalSequence == 14)
        let fourth = try engine()
        expectSameAccount(fourth, third)
    }

    @Test func aVersion1SnapshotWithoutAJournalStillLoads() throws {
        let first = try engine()
        let numbers = Self.numbers(first, 2)
        for number in numbers { _ = Self.buy(first, number) }
        _ = first.send("POST", "/v1/Trunks", form: [("FriendlyName", "old")])
        _ = try engine()  // compacts: the snapshot holds everything
        // Rewrite it as the simulator before the journal wrote it: version 1, no journal sequence, no journal.
        var json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        json["version"] = 1
        json["journalSequence"] = nil
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        try FileManager.default.removeItem(atPath: journalPath)

        let second = try engine()
        expectSameAccount(second, first)
        #expect(second.ownedNumbers.map(\.number.phoneNumber) == numbers)
        // Rewritten at once as version 2: a simulator that knows only version 1 refuses it rather than ignoring the
        // journal that follows.
        #expect(try snapshot().version == 2 && snapshot().journalSequence == 0)
        // It continues with a journal from sequence 1.
        let sid = try #require(second.ownedNumbers.first?.sid)
        #expect(second.send("DELETE", second.api + "/IncomingPhoneNumbers/\(sid).json").0 == 204)
        #expect(try journalLines().count == 1)
        let third = try engine()
        expectSameAccount(third, second)
        #expect(try snapshot().version == SimulatorStateFile.version && snapshot().journalSequence == 1)
        // A version the simulator does not know stops the start.
        json["version"] = 3
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        #expect { try self.engine() } throws: { "\($0)".contains("has version 3") }
    }

    // MARK: - Damage

    /// Three changes on disk: the snapshot (empty account) and the journal's bytes, with the offset of its last line.
    private func threeChanges() throws -> (snapshot: Data, journal: Data, lastLine: Int, engine: SimulatorEngine) {
        let engine = try engine()
        for number in Self.numbers(engine, 3) { #expect(Self.buy(engine, number).status == 201) }
        let journal = try Data(contentsOf: URL(fileURLWithPath: journalPath))
        let newlines = journal.indices.filter { journal[$0] == UInt8(ascii: "\n") }
        #expect(newlines.count == 3)
        return (try Data(contentsOf: URL(fileURLWithPath: path)), journal, newlines[1] + 1, engine)
    }

    private func write(snapshot: Data, journal: Data) throws {
        try snapshot.write(to: URL(fileURLWithPath: path))
        try journal.write(to: URL(fileURLWithPath: journalPath))
    }

    /// A compaction that renamed its snapshot into place and then died (or whose folder sync failed) leaves lines the
    /// snapshot already includes; the rename itself may not be on disk yet. The next start must save the snapshot
    /// again, synced, before it truncates the journal: else a power cut could leave the old snapshot and no journal.
    @Test func aStartSavesTheSnapshotAgainBeforeTruncatingLinesItIncludes() throws {
        let (_, journal, _, live) = try threeChanges()
        _ = try engine()  // Compacts at start: the snapshot now includes all three lines, the journal is empty.
        #expect(try snapshot().journalSequence == 3 && (try journalLines()).isEmpty)
        try journal.write(to: URL(fileURLWithPath: journalPath))  // As if the truncation had not happened.

        let calls = Shared<[String]>([])
        var operations = SimulatorFileOperations.system
        operations.fsync = { descriptor in
            calls.value.withLock { $0.append("fsync") }
            return SimulatorFileOperations.system.fsync(descriptor)
        }
        operations.truncate = { descriptor, length in
            calls.value.withLock { $0.append("truncate") }
            return SimulatorFileOperations.system.truncate(descriptor, length)
        }
        let restarted = try engine(operations: operations)
        // The snapshot's temporary file and the folder synced, then the journal truncated and synced.
        #expect(calls.current == ["fsync", "fsync", "truncate", "fsync"])
        #expect(try snapshot().journalSequence == 3 && (try journalLines()).isEmpty)
        expectSameAccount(restarted, live)

        // The journal file was there already, created by another run that may have died before syncing its folder:
        // the first change of this run syncs the folder before its line counts as on disk.
        calls.value.withLock { $0 = [] }
        #expect(Self.buy(restarted, Self.numbers(restarted, 1)[0]).status == 201)
        #expect(calls.current == ["fsync"])
    }

    /// numberd's start on a full disk: the simulator's start cannot write its fresh snapshot, so it keeps the journal
    /// (its torn tail cut, its lines synced) and starts, as a running fold that cannot be written does. It refused
    /// the start before, and with it numberd's.
    @Test func aStartThatCannotWriteItsSnapshotKeepsTheJournal() throws {
        let (snapshotBefore, journal, _, live) = try threeChanges()
        // A torn line after the three: never answered, cut off.
        try (journal + Data("{\"seq\":4,\"numb".utf8)).write(to: URL(fileURLWithPath: journalPath))
        let calls = Shared<[String]>([])
        var full = SimulatorFileOperations.system
        full.write = { _, _ in -Int(ENOSPC) }
        full.fsync = { descriptor in
            calls.value.withLock { $0.append("fsync") }
            return SimulatorFileOperations.system.fsync(descriptor)
        }
        full.truncate = { descriptor, length in
            calls.value.withLock { $0.append("truncate \(length)") }
            return SimulatorFileOperations.system.truncate(descriptor, length)
        }
        let restarted = try engine(operations: full)
        expectSameAccount(restarted, live)
        // The journal cut to its three lines and synced, then the snapshot's folder; the snapshot as it was.
        #expect(calls.current == ["truncate \(journal.count)", "fsync", "fsync"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: journalPath)) == journal)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == snapshotBefore)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        // A change while the disk is full is refused, and loses nothing.
        let number = Self.numbers(restarted, 1)[0]
        #expect(Self.buy(restarted, number).status == 500)
        #expect(try Data(contentsOf: URL(fileURLWithPath: journalPath)) == journal)

        // With room again, the next start folds it all, and the journal goes on from the fourth line.
        let again = try engine()
        expectSameAccount(again, live)
        #expect(try snapshot().journalSequence == 3 && (try journalLines()).isEmpty)
        #expect(Self.buy(again, number).status == 201)
        #expect(try JSONDecoder().decode(SimulatorJournal.Record.self, from: journalLines()[0]).seq == 4)
        expectSameAccount(try engine(), again)
    }

    /// A journal kept at a start continues where its lines end, and its fold comes one bound later (it failed once).
    @Test func aKeptJournalContinuesAndFoldsOneBoundLater() throws {
        let (_, journal, _, live) = try threeChanges()
        let disk = Switch()
        disk.failing.withLock { $0 = true }
        var operations = SimulatorFileOperations.system
        operations.write = { descriptor, bytes in
            disk.failing.withLock { $0 } ? -Int(ENOSPC) : SimulatorFileOperations.system.write(descriptor, bytes)
        }
        // Bounds of 2 lines and of the kept journal's size: both count beyond what was kept.
        let restarted = try engine(configuration(recordsMax: 2, bytesMax: journal.count), operations: operations)
        disk.failing.withLock { $0 = false }
        // The fourth line is appended, the fifth folds all five.
        let numbers = Self.numbers(restarted, 2)
        #expect(Self.buy(restarted, numbers[0]).status == 201)
        #expect(try journalLines().count == 4 && snapshot().journalSequence == 0)
        #expect(Self.buy(restarted, numbers[1]).status == 201)
        #expect(try journalLines().isEmpty && snapshot().journalSequence == 5)
        #expect(restarted.ownedNumbers.count == live.ownedNumbers.count + 2)
        expectSameAccount(try engine(), restarted)
    }

    @Test func aTornLastLineIsCutOffAtEveryOffset() throws {
        // About a thousand starts, each writing and truncating files: in memory where there is a tmpfs (what is
        // tested here is the reading), else on disk, without syncs.
        var suite = self
        if FileManager.default.fileExists(atPath: "/dev/shm") {
            suite.directory = "/dev/shm/sim-journal-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: suite.directory, withIntermediateDirectories: true)
        }
        defer { if suite.directory != directory { try? FileManager.default.removeItem(atPath: suite.directory) } }
        try suite.cutOffAtEveryOffset()
    }

    private func cutOffAtEveryOffset() throws {
        let (snapshot, journal, lastLine, live) = try threeChanges()
        let firstTwo = Array(live.ownedNumbers.prefix(2))
        // Every cut inside the last line, from none of it to all of it but its newline.
        var unsynced = SimulatorFileOperations.system
        unsynced.fsync = { _ in 0 }
        unsynced.fdatasync = { _ in 0 }
        for cut in lastLine..<(journal.count - 1) {
            try write(snapshot: snapshot, journal: journal.prefix(cut))
            let restarted = try engine(operations: unsynced)
            #expect(restarted.ownedNumbers == firstTwo, "cut at \(cut)")
            #expect(try journalLines().isEmpty, "the torn line stays behind at \(cut)")
            #expect(try self.snapshot().journalSequence == 2)
        }
        // After the cut, the journal continues where the synced lines ended.
        let restarted = try engine()
        let number = try #require(live.ownedNumbers.last?.number.phoneNumber)
        #expect(Self.buy(restarted, number).status == 201)
        #expect(try JSONDecoder().decode(SimulatorJournal.Record.self, from: journalLines()[0]).seq == 3)
        expectSameAccount(try engine(), restarted)

        // A last line complete but undecodable (its write reached the disk only in part) is cut off too.
        var garbled = journal
        garbled.replaceSubrange(
            (lastLine + 10)..<(lastLine + 30), with: Data(repeating: 0, count: 20))
        try write(snapshot: snapshot, journal: garbled)
        #expect(try engine().ownedNumbers == firstTwo)
        // And the whole journal intact replays all three.
        try write(snapshot: snapshot, journal: journal)
        expectSameAccount(try engine(), live)
    }

    @Test func aDamagedLineBeforeTheLastRefusesTheStart() throws {
        let (snapshot, journal, lastLine, _) = try threeChanges()
        let secondLine = try #require(journal.firstIndex(of: UInt8(ascii: "\n"))) + 1
        var damaged = journal
        damaged[secondLine + 5] = UInt8(ascii: "#")
        try write(snapshot: snapshot, journal: damaged)
        #expect { try self.engine() } throws: { error in
            "\(error)".contains(journalPath) && "\(error)".contains("line 2 is not a journal record")
        }
        // Nothing was changed by the refused start: the same files refuse again.
        #expect(try Data(contentsOf: URL(fileURLWithPath: journalPath)) == damaged)

        // A line missing in the middle is a gap in the sequence.
        var gap = journal
        gap.removeSubrange(secondLine..<lastLine)
        try write(snapshot: snapshot, journal: gap)
        #expect { try self.engine() } throws: { error in
            "\(error)".contains(journalPath) && "\(error)".contains("line 2 has sequence 3 after 1")
        }
        // Lines that do not continue the snapshot: changes are missing.
        try write(snapshot: snapshot, journal: journal.suffix(from: secondLine))
        #expect { try self.engine() } throws: { "\($0)".contains("line 1 has sequence 2 but follows 0") }
        // A journal whose snapshot was moved away.
        try FileManager.default.removeItem(atPath: path)
        try journal.write(to: URL(fileURLWithPath: journalPath))
        #expect { try self.engine() } throws: { "\($0)".contains("\(path) is missing") }
    }

    // MARK: - Failures

    /// Counts calls, and tells the injected operations when to fail.
    private final class Switch: Sendable {
        let failing = Mutex(false)
        let calls = Mutex(0)
    }

    /// A value shared with other threads.
    private final class Shared<Value: Sendable>: Sendable {
        let value: Mutex<Value>
        init(_ value: Value) { self.value = Mutex(value) }
        var current: Value { value.withLock { $0 } }
    }

    @Test func aFailedFdatasyncAnswers500AndStopsEveryLaterChange() throws {
        let fdatasync = Switch()
        var operations = SimulatorFileOperations.system
        operations.fdatasync = { descriptor in
            fdatasync.calls.withLock { $0 += 1 }
            return fdatasync.failing.withLock { $0 } ? EIO : SimulatorFileOperations.system.fdatasync(descriptor)
        }
        let engine = try engine(operations: operations)
        let numbers = Self.numbers(engine, 3)
        let kept = try #require(Self.buy(engine, numbers[0]).sid)
        #expect(fdatasync.calls.withLock { $0 } == 1)

        fdatasync.failing.withLock { $0 = true }
        let uncertain = engine.send(
            "POST", engine.api + "/IncomingPhoneNumbers.json", form: [("PhoneNumber", numbers[1])])
        #expect(uncertain.status == 500 && uncertain.json["code"] as? Int == 20500)
        // It acted: the change stays in memory (its line may be on disk), as after Twilio's 500 after acting.
        #expect(!engine.isAvailable(numbers[1]) && engine.ownedNumbers.count == 2)
        #expect(engine.requestLog.last?.acted == true)

        // From then on every change is refused without acting, and the sync is never tried again.
        let refused = Self.buy(engine, numbers[2])
        #expect(refused.status == 500 && engine.isAvailable(numbers[2]))
        #expect(engine.requestLog.last?.acted == false)
        #expect(engine.send("DELETE", engine.api + "/IncomingPhoneNumbers/\(kept).json").0 == 500)
        #expect(engine.ownedNumbers.count == 2)
        #expect(engine.send("POST", "/v1/Trunks").0 == 500 && engine.trunks.isEmpty)
        #expect(fdatasync.calls.withLock { $0 } == 2)
        // Reads see the change whose line may not be on disk: answered 500 too, not from memory (a review: the
        // look-up settling the uncertain purchase showed it bought, and numberd charged for a number a crash could
        // take back). So are requests that would change nothing: the simulator stops, as numberd does.
        #expect(engine.send("GET", engine.api + "/IncomingPhoneNumbers.json").0 == 500)
        #expect(engine.send("GET", engine.api + "/IncomingPhoneNumbers.json?PhoneNumber=" + numbers[1]).0 == 500)
        let unknown = engine.api + "/IncomingPhoneNumbers/PN" + String(repeating: "0", count: 32) + ".json"
        #expect(engine.send("DELETE", unknown).0 == 500)
        #expect(engine.send("GET", "/v1/Trunks/TK" + String(repeating: "0", count: 32)).0 == 500)
        #expect(fdatasync.calls.withLock { $0 } == 2)

        // The line was written before its sync failed (here the disk kept it): a restart finds both numbers.
        let restarted = try self.engine()
        #expect(restarted.ownedNumbers.map(\.number.phoneNumber) == [numbers[0], numbers[1]])
    }

    /// A compaction whose snapshot cannot be written (its temporary file's fsync fails) loses nothing: the change is
    /// answered, the journal keeps every line, and the next attempt comes one bound later, where it succeeds.
    @Test func aCompactionThatCannotBeWrittenKeepsTheJournalAndTriesOneBoundLater() throws {
        let fsync = Switch()
        var operations = SimulatorFileOperations.system
        operations.fsync = { descriptor in
            fsync.calls.withLock { $0 += 1 }
            return fsync.failing.withLock { $0 } ? EIO : SimulatorFileOperations.system.fsync(descriptor)
        }
        let live = try engine(configuration(recordsMax: 2), operations: operations)
        let numbers = Self.numbers(live, 4)
        #expect(Self.buy(live, numbers[0]).status == 201)
        fsync.failing.withLock { $0 = true }
        #expect(Self.buy(live, numbers[1]).status == 201)  // The bound: the compaction fails, the change stays.
        let attempted = fsync.calls.withLock { $0 }
        #expect(attempted > 0)
        #expect(try journalLines().count == 2 && snapshot().journalSequence == 0)
        // Its partial temporary file is not left to hold a full disk's last bytes.
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        #expect(Self.buy(live, numbers[2]).status == 201)  // Not retried with every change (appends use fdatasync).
        #expect(fsync.calls.withLock { $0 } == attempted)
        #expect(try journalLines().count == 3)
        fsync.failing.withLock { $0 = false }
        #expect(Self.buy(live, numbers[3]).status == 201)  // One bound later: folded into the snapshot.
        #expect(try journalLines().isEmpty && snapshot().journalSequence == 4)
        expectSameAccount(try engine(), live)
    }

    @Test func aLineThatCannotBeWrittenIsCutOffAndTheChangeUndone() throws {
        let full = Switch()
        var operations = SimulatorFileOperations.system
        operations.write = { descriptor, bytes in
            guard full.failing.withLock({ $0 }) else { return SimulatorFileOperations.system.write(descriptor, bytes) }
            // A disk that fills up in the middle of the line: half of it lands, then ENOSPC.
            let first = full.calls.withLock { calls in
                calls += 1
                return calls == 1
            }
            guard first, bytes.count > 1 else { return -Int(ENOSPC) }
            return SimulatorFileOperations.system.write(
                descriptor, UnsafeRawBufferPointer(rebasing: bytes[..<(bytes.count / 2)]))
        }
        let engine = try engine(operations: operations)
        let numbers = Self.numbers(engine, 2)
        #expect(Self.buy(engine, numbers[0]).status == 201)
        let size = try Data(contentsOf: URL(fileURLWithPath: journalPath)).count

        full.failing.withLock { $0 = true }
        let refused = engine.send(
            "POST", engine.api + "/IncomingPhoneNumbers.json", form: [("PhoneNumber", numbers[1])])
        #expect(refused.status == 500 && refused.json["code"] as? Int == 20500)
        #expect(engine.isAvailable(numbers[1]) && engine.ownedNumbers.count == 1)
        #expect(engine.requestLog.last?.acted == false)
        #expect(full.calls.withLock { $0 } == 2, "half the line, then the failure")
        #expect(try Data(contentsOf: URL(fileURLWithPath: journalPath)).count == size, "the half line was cut off")

        // A write failure is not a sync failure: once the disk has room, changes go on.
        full.failing.withLock { $0 = false }
        #expect(Self.buy(engine, numbers[1]).status == 201)
        expectSameAccount(try self.engine(), engine)
    }

    // MARK: - Concurrency

    @Test func concurrentChangesAllComeBackAfterARestart() throws {
        let syncs = Switch()
        var operations = SimulatorFileOperations.system
        operations.fdatasync = { descriptor in
            syncs.calls.withLock { $0 += 1 }
            // A slow disk, so that lines pile up behind a sync and share the next one.
            usleep(2_000)
            return SimulatorFileOperations.system.fdatasync(descriptor)
        }
        let engine = try engine(configuration(recordsMax: 37), operations: operations)
        let threads = 8
        let perThread = 12
        let pool = Self.numbers(engine, threads * perThread)
        let failures = Shared<[String]>([])
        let changes = Shared(0)
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var mine: [String] = []
            func check(_ ok: Bool, _ what: String) {
                if ok { changes.value.withLock { $0 += 1 } } else { failures.value.withLock { $0.append(what) } }
            }
            for index in 0..<perThread {
                let number = pool[thread * perThread + index]
                let bought = Self.buy(engine, number)
                check(bought.status == 201, "buy \(number): \(bought.status)")
                if let sid = bought.sid { mine.append(sid) }
                if index % 3 == 2, let sid = mine.popLast() {
                    let released = engine.send("DELETE", engine.api + "/IncomingPhoneNumbers/\(sid).json")
                    check(released.status == 204, "release \(sid): \(released.status)")
                }
                if index % 4 == 0 {
                    let trunk = engine.send("POST", "/v1/Trunks", form: [("FriendlyName", "t\(thread)-\(index)")])
                    check(trunk.status == 201, "trunk: \(trunk.status)")
                    if let tk = trunk.json["sid"] as? String, let pn = mine.last {
                        let linked = engine.send(
                            "POST", "/v1/Trunks/\(tk)/PhoneNumbers", form: [("PhoneNumberSid", pn)])
                        check(linked.status == 201, "link: \(linked.status)")
                    }
                }
                _ = engine.send("GET", engine.api + "/IncomingPhoneNumbers.json")
            }
        }
        #expect(failures.current.isEmpty, "\(failures.current)")
        #expect(engine.ownedNumbers.count == threads * (perThread - perThread / 3))
        let total = changes.current
        let synced = syncs.calls.withLock { $0 }
        // Waiting requests share syncs (and compactions cover lines without one).
        #expect(synced < total, "\(synced) fdatasync calls for \(total) changes")

        let restarted = try self.engine()
        expectSameAccount(restarted, engine)
        #expect(restarted.ownedNumbers.map(\.sid) == engine.ownedNumbers.map(\.sid))
    }

    @Test func aReadDoesNotShowAChangeBeforeItIsOnDisk() throws {
        let gate = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        let holding = Switch()
        var operations = SimulatorFileOperations.system
        operations.fdatasync = { descriptor in
            if holding.failing.withLock({ $0 }) {
                entered.signal()
                gate.wait()
            }
            return SimulatorFileOperations.system.fdatasync(descriptor)
        }
        let engine = try engine(operations: operations)
        let number = try #require(Self.numbers(engine, 1).first)
        holding.failing.withLock { $0 = true }
        let bought = DispatchSemaphore(value: 0)
        let listed = DispatchSemaphore(value: 0)
        let listing = Shared<[String]>([])
        DispatchQueue.global().async {
            _ = Self.buy(engine, number)
            bought.signal()
        }
        entered.wait()
        holding.failing.withLock { $0 = false }
        DispatchQueue.global().async {
            let reply = engine.send("GET", engine.api + "/IncomingPhoneNumbers.json")
            let sids = (reply.json["incoming_phone_numbers"] as? [[String: Any]])?.compactMap {
                $0["phone_number"] as? String
            }
            listing.value.withLock { $0 = sids ?? [] }
            listed.signal()
        }
        // The purchase's line is written, not synced: neither the purchase nor a read that sees it is answered.
        #expect(bought.wait(timeout: .now() + .milliseconds(200)) == .timedOut)
        #expect(listed.wait(timeout: .now() + .milliseconds(200)) == .timedOut)
        gate.signal()
        #expect(bought.wait(timeout: .now() + .seconds(10)) == .success)
        #expect(listed.wait(timeout: .now() + .seconds(10)) == .success)
        #expect(listing.current == [number])
    }
}
