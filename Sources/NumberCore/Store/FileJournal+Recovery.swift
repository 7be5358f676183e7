import Foundation

/// Opening a data directory: newest good snapshot, replay of the journal after it, torn tail set aside.
extension FileJournal {
    /// Opens (creating if needed) the journal in `directory` and recovers the state.
    ///
    /// Loads the newest snapshot that passes its checksum (a damaged one is renamed `*.damaged-<ms>` and the previous
    /// one used; one that passes its checksum but does not decode as `State` refuses the open), replays every later record through `apply`, and cuts a torn last record off the last segment
    /// (its bytes go to `journal-….jsonl.torn-<ms>`). Throws `JournalError` naming the file and byte offset for a
    /// damaged record before the last one (`corruptRecord`), a seq gap (`sequenceGap`), a missing journal
    /// (`missingJournal`) or a failing `apply` (`replayFailed`); `locked` if the directory is already open.
    /// It reads and replays synchronously: call it at start-up, not on an event loop.
    public static func open(
        directory: URL,
        options: JournalOptions = .defaults,
        initialState: State,
        apply: (inout State, Event) throws -> Void
    ) throws -> OpenedJournal<FileJournal> {
        try options.validate()
        let fileSystem = options.fileSystem
        let layout = JournalLayout(directory: directory.standardizedFileURL.path)
        try fileSystem.createDirectory(layout.directory)
        let lock = try fileSystem.lockDirectory(layout.directory)
        do {
            var recovery = Recovery(layout: layout, options: options, initialState: initialState)
            let recovered = try recovery.run(apply: apply)
            let journal = FileJournal(
                options: options, layout: layout, lock: lock, segment: recovered.segment,
                lastSeq: recovered.lastSeq, snapshotSeq: recovered.snapshotSeq)
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
        var segment: SegmentState
    }

    /// The recovery procedure, step by step.
    struct Recovery {
        let layout: JournalLayout
        let options: JournalOptions
        let initialState: State
        var report = JournalRecovery()
        var fileSystem: any JournalFileSystem { options.fileSystem }

        init(layout: JournalLayout, options: JournalOptions, initialState: State) {
            self.layout = layout
            self.options = options
            self.initialState = initialState
        }

        mutating func run(apply: (inout State, Event) throws -> Void) throws -> Recovered {
            let names = try fileSystem.listDirectory(layout.directory)
            try removeTempFiles(names)
            let (snapshotSeq, snapshotState) = try loadSnapshot(names)
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
                segment = try createFirstSegment(firstSeq: 1)
            } else {
                segment = try replay(firstSeqs: firstSeqs, base: base, state: &state, apply: apply)
            }
            // Always: a crashed predecessor may have created the last segment (rotation) without syncing the
            // directory; records acknowledged from now on must not sit in a file whose entry can still vanish.
            // It also makes this open's own changes durable (temp files removed, snapshots set aside, first segment).
            try fileSystem.fsyncDirectory(layout.directory)
            return Recovered(
                state: state, lastSeq: max(segment.lastWrittenSeq, base), snapshotSeq: base, segment: segment)
        }

        /// Removes `snapshot-*.json.tmp` left by a crash during a snapshot.
        func removeTempFiles(_ names: [String]) throws {
            let temps = names.filter(JournalLayout.isSnapshotTemp)
            for name in temps {
                options.logger.notice("journal removing snapshot temp file", metadata: ["file": "\(name)"])
                try fileSystem.remove(layout.path(name))
            }
        }

        /// The newest snapshot that passes its checks; damaged ones are set aside.
        mutating func loadSnapshot(_ names: [String]) throws -> (UInt64?, State?) {
            for seq in names.compactMap(JournalLayout.snapshotSeq).sorted(by: >) {
                let name = JournalLayout.snapshotName(seq: seq)
                let bytes = try fileSystem.readFile(layout.path(name), limitBytes: options.limits.snapshotBytesMax)
                switch SnapshotCheck.check(bytes, seq: seq, as: State.self) {
                case .success(let frame):
                    return (seq, frame.state)
                case .failure(let reason) where reason.intact:
                    throw JournalError(.corruptRecord, "snapshot unusable: \(reason)", file: layout.path(name))
                case .failure(let reason):
                    let aside = JournalLayout.damagedName(snapshot: name, millis: JournalLayout.nowMillis())
                    options.logger.error(
                        "journal snapshot damaged, using the previous one",
                        metadata: ["file": "\(name)", "reason": "\(reason)", "movedTo": "\(aside)"])
                    try fileSystem.rename(layout.path(name), to: layout.path(aside))
                    report.damagedSnapshots.append(aside)
                }
            }
            return (nil, nil)
        }

        func createFirstSegment(firstSeq: UInt64) throws -> SegmentState {
            let path = layout.path(JournalLayout.segmentName(firstSeq: firstSeq))
            let handle = try fileSystem.open(path, mode: .append)
            return SegmentState(firstSeqs: [firstSeq], handle: handle, size: 0, lastWrittenSeq: firstSeq - 1)
        }
    }
}
