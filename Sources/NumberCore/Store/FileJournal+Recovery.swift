import Foundation

/// Opening a data directory: newest good snapshot, replay of the journal after it, torn tail set aside.
extension FileJournal {
    /// Opens (creating if needed) the journal in `directory` and recovers the state.
    ///
    /// Loads the newest snapshot that reads and passes its checksum (one that cannot be read — an I/O error, larger
    /// than `snapshotBytesMax` — is left in place and the previous one used; a damaged one is renamed
    /// `*.damaged-<ms>` and the previous one used; one that passes its checksum but does not decode as `State`
    /// refuses the open), replays every later record through `apply`, and cuts a torn tail (a torn last record, or
    /// damage a power cut left inside the last batch: ``SegmentScanner``) off the last
    /// segment (its bytes go to `journal-….jsonl.torn-<ms>`; with no room for that copy, nowhere: they were never
    /// acknowledged). Throws `JournalError` naming the file and byte offset
    /// for a damaged record before the last one (`corruptRecord`), a seq gap (`sequenceGap`), a missing journal
    /// (`missingJournal`: also when an unusable snapshot's name shows the journal reached further than the records
    /// found) or a failing `apply` (`replayFailed`); `locked` if the directory is already open.
    /// It reads and replays synchronously: call it at start-up, not on an event loop.
    ///
    /// With a `format` (the one this build writes, and the newest it reads), the directory's `FORMAT` file is checked
    /// first, before anything is written — not even the lock file: a store whose `FORMAT` asks for a newer reader is
    /// refused (`formatTooNew`), one whose `FORMAT` cannot be read (`formatDamaged`) too, never taken for a missing one
    /// — and, once the store is recovered and before any record can be appended, `FORMAT` is written when it is
    /// missing (a new store, or one from before the file: format 1) or names an older format (``StoreFormatFile``).
    public static func open(
        directory: URL,
        options: JournalOptions = .defaults,
        format: StoreFormat? = nil,
        initialState: State,
        apply: (inout State, Event) throws -> Void
    ) throws -> OpenedJournal<FileJournal> {
        try options.validate()
        let fileSystem = options.fileSystem
        let layout = JournalLayout(directory: directory.standardizedFileURL.path)
        let formatFile = StoreFormatFile(layout: layout, fileSystem: fileSystem)
        // Before the directory and its lock file are created: a refused store is left exactly as it was.
        if let format { _ = try formatFile.admit(reader: format) }
        try fileSystem.createDirectory(layout.directory)
        let lock = try fileSystem.lockDirectory(layout.directory)
        do {
            // Again under the lock, which no other numberd holds now: the check that counts.
            let found = try format.flatMap { try formatFile.admit(reader: $0) }
            var recovery = Recovery(layout: layout, options: options, initialState: initialState)
            let recovered = try recovery.run(apply: apply)
            if let format {
                // After recovery, which may still refuse the store (a refused open leaves FORMAT as it was), and
                // before any record can be appended in this format.
                do {
                    try formatFile.record(format, found: found, logger: options.logger)
                } catch {
                    if let handle = recovered.segment.handle { fileSystem.close(handle) }
                    throw error
                }
            }
            let journal = FileJournal(
                options: options, layout: layout, lock: lock, segment: recovered.segment,
                lastSeq: recovered.lastSeq, snapshotSeq: recovered.snapshotSeq,
                snapshotBytes: recovered.snapshotBytes, untrustedSnapshots: recovery.unreadableSeqs)
            journal.startWatchdog()
            options.logger.info(
                "journal opened",
                metadata: [
                    "directory": "\(layout.directory)", "lastSeq": "\(recovered.lastSeq)",
                    "snapshotSeq": "\(recovered.snapshotSeq)", "replayed": "\(recovery.report.replayedRecords)",
                ])
            return OpenedJournal(
                journal: journal, state: recovered.state, lastSeq: recovered.lastSeq, recovery: recovery.report)
        } catch {
            fileSystem.unlockDirectory(lock)
            throw error
        }
    }

    /// The recovered pieces `open` builds the journal from.
    struct Recovered {
        var state: State
        var lastSeq: UInt64
        var snapshotSeq: UInt64
        /// The loaded snapshot's file size; nil when none was loaded.
        var snapshotBytes: Int?
        var segment: SegmentState
    }

    /// The recovery procedure, step by step.
    struct Recovery {
        let layout: JournalLayout
        let options: JournalOptions
        let initialState: State
        var report = JournalRecovery()
        /// Damaged snapshots found: set aside only once the open is known to go ahead.
        var damaged: [String] = []
        /// The seqs of snapshots that could not be read (left in place).
        var unreadableSeqs: Set<UInt64> = []
        /// The torn-tail file this open kept (new, or one an earlier start kept), if any.
        var keptTornFile: String?
        var fileSystem: any JournalFileSystem { options.fileSystem }

        init(layout: JournalLayout, options: JournalOptions, initialState: State) {
            self.layout = layout
            self.options = options
            self.initialState = initialState
        }

        mutating func run(apply: (inout State, Event) throws -> Void) throws -> Recovered {
            let names = try fileSystem.listDirectory(layout.directory)
            try removeTempFiles(names)
            let (snapshotSeq, snapshotState, snapshotBytes) = try loadSnapshot(names)
            report.snapshotSeq = snapshotSeq
            let firstSeqs = names.compactMap(JournalLayout.segmentSeq).sorted()
            var state = snapshotState ?? initialState
            let base = snapshotSeq ?? 0
            var segment: SegmentState
            if firstSeqs.isEmpty {
                guard snapshotSeq == nil else {
                    throw JournalError(
                        .missingJournal, "snapshot \(base) exists but no journal segment", file: layout.directory)
                }
                try checkReach(lastSeq: 0, names: names)
                segment = try createFirstSegment(firstSeq: 1)
            } else {
                segment = try replay(firstSeqs: firstSeqs, base: base, state: &state, apply: apply)
            }
            // A refusal from here on closes the segment it opened (each refused open leaked a descriptor).
            do {
                if !firstSeqs.isEmpty { try checkReach(lastSeq: segment.lastWrittenSeq, names: names) }
                try setDamagedAside()
                removeOldTornFiles()
                // Always: a crashed predecessor may have created the last segment (rotation) without syncing the
                // directory; records acknowledged from now on must not sit in a file whose entry can still vanish.
                // It also makes this open's own changes durable (temp files removed, snapshots set aside, first
                // segment).
                try fileSystem.fsyncDirectory(layout.directory)
            } catch {
                if let handle = segment.handle { fileSystem.close(handle) }
                throw error
            }
            return Recovered(
                state: state, lastSeq: max(segment.lastWrittenSeq, base), snapshotSeq: base,
                snapshotBytes: snapshotBytes, segment: segment)
        }

        /// Removes `snapshot-*.json.tmp` left by a crash during a snapshot, and `FORMAT.tmp` by one while `FORMAT`
        /// was being replaced (the old `FORMAT`, or none, still stands).
        func removeTempFiles(_ names: [String]) throws {
            let temps = names.filter { JournalLayout.isSnapshotTemp($0) || $0 == JournalLayout.formatTempName }
            for name in temps {
                options.logger.notice("journal removing a temp file left by a crash", metadata: ["file": "\(name)"])
                try fileSystem.remove(layout.path(name))
            }
        }

        /// The newest snapshot that reads and passes its checks. One that cannot be read (an I/O error, too large) is
        /// reported and left in place — a failing read says nothing about the bytes, and the next start may read it —
        /// and the next older one is tried, as for a damaged one (bad checksum), which is set aside later.
        mutating func loadSnapshot(_ names: [String]) throws -> (UInt64?, State?, bytes: Int?) {
            for seq in names.compactMap(JournalLayout.snapshotSeq).sorted(by: >) {
                let name = JournalLayout.snapshotName(seq: seq)
                let bytes: [UInt8]
                do {
                    bytes = try fileSystem.readFile(layout.path(name), limitBytes: options.limits.snapshotBytesMax)
                } catch {
                    options.logger.error(
                        "journal snapshot unreadable, trying the previous one",
                        metadata: ["file": "\(name)", "error": "\(error)"])
                    report.unreadableSnapshots.append(.init(file: name, reason: "\(error)"))
                    unreadableSeqs.insert(seq)
                    continue
                }
                switch SnapshotCheck.check(bytes, seq: seq, as: State.self) {
                case .success(let frame):
                    return (seq, frame.state, bytes.count)
                case .failure(let reason) where reason.intact:
                    throw JournalError(.corruptRecord, "snapshot unusable: \(reason)", file: layout.path(name))
                case .failure(let reason):
                    options.logger.error(
                        "journal snapshot damaged, using the previous one",
                        metadata: ["file": "\(name)", "reason": "\(reason)"])
                    damaged.append(name)
                }
            }
            return (nil, nil, nil)
        }

        /// Refuses an open whose journal ends before a snapshot that could not be used — one unreadable or damaged
        /// now, or set aside by an earlier open: its name proves records through its seq were durable, so opening
        /// with fewer (an empty store when no segment is left) would silently drop acknowledged writes.
        func checkReach(lastSeq: UInt64, names: [String]) throws {
            let unusable =
                damaged.compactMap(JournalLayout.snapshotSeq) + Array(unreadableSeqs)
                + names.compactMap(JournalLayout.damagedSnapshotSeq)
            guard let reached = unusable.max(), reached > lastSeq else { return }
            throw JournalError(
                .missingJournal,
                "a snapshot shows records through seq \(reached) were written, but no usable snapshot holds them and "
                    + "the journal ends at seq \(lastSeq)\(unusableNote): make the snapshot readable or restore the data "
                    + "directory from a backup",
                file: layout.directory)
        }

        /// What was wrong with the snapshots not used, for refusals ("" when all were fine).
        var unusableNote: String {
            let listed =
                report.unreadableSnapshots.map { "\($0.file) unreadable (\($0.reason))" }
                + damaged.map { "\($0) damaged" }
            return listed.isEmpty ? "" : " (snapshots not usable: \(listed.joined(separator: "; ")))"
        }

        /// Renames the damaged snapshots `*.damaged-<ms>`, once the open goes ahead: a refused open changes none.
        mutating func setDamagedAside() throws {
            for name in damaged {
                let aside = JournalLayout.damagedName(snapshot: name, millis: JournalLayout.nowMillis())
                options.logger.notice(
                    "journal setting a damaged snapshot aside", metadata: ["file": "\(name)", "movedTo": "\(aside)"])
                try fileSystem.rename(layout.path(name), to: layout.path(aside))
                report.damagedSnapshots.append(aside)
            }
        }

        func createFirstSegment(firstSeq: UInt64) throws -> SegmentState {
            let path = layout.path(JournalLayout.segmentName(firstSeq: firstSeq))
            let handle = try fileSystem.open(path, mode: .createNew)
            return SegmentState(firstSeqs: [firstSeq], handle: handle, size: 0, lastWrittenSeq: firstSeq - 1)
        }
    }
}
