/// Replaying the journal segments after the snapshot.
extension FileJournal.Recovery {
    /// Replays every record after `base` into `state` and opens the last segment for appending.
    mutating func replay(
        firstSeqs: [UInt64], base: UInt64, state: inout State, apply: (inout State, Event) throws -> Void
    ) throws -> FileJournal.SegmentState {
        if let zero = firstSeqs.first, zero == 0 {
            throw JournalError(.sequenceGap, "segment starts at seq 0", file: segmentPath(0))
        }
        // The first segment holding a record after the snapshot; earlier ones stay for the previous snapshot.
        var start = firstSeqs.count - 1
        for index in 0..<(firstSeqs.count - 1) where firstSeqs[index + 1] - 1 > base {
            start = index
            break
        }
        guard firstSeqs[start] <= base + 1 else {
            throw JournalError(
                base == 0 ? .missingJournal : .sequenceGap,
                "the journal starts at seq \(firstSeqs[start]) but the state holds records through \(base) only"
                    + unusableNote,
                file: segmentPath(firstSeqs[start]), offset: 0)
        }
        var lastSeq = firstSeqs[start] - 1
        var size = 0
        var torn: TornTail?
        for index in start..<firstSeqs.count {
            let first = firstSeqs[index]
            let path = segmentPath(first)
            guard first == lastSeq + 1 else {
                throw JournalError(
                    .sequenceGap, "segment starts at seq \(first), expected \(lastSeq + 1)", file: path, offset: 0)
            }
            let bytes = try fileSystem.readFile(path, limitBytes: options.limits.segmentReadBytesMax)
            let scan = SegmentScanner.scan(
                bytes, firstSeq: first, as: Event.self, lastSegment: index == firstSeqs.count - 1)
            try Self.throwFirstIssue(scan.issues, path: path)
            if let tail = scan.torn {
                guard index == firstSeqs.count - 1 else {
                    throw JournalError(
                        .corruptRecord, "damaged last line in a segment that is not the last: \(tail.reason)",
                        file: path, offset: tail.offset)
                }
                torn = tail
                try keepTornBytes(bytes[tail.offset...], segment: first, tail: tail)
            }
            for record in scan.records where record.seq > base {
                try replay(record, into: &state, apply: apply, path: path)
            }
            lastSeq = scan.lastSeq
            size = torn?.offset ?? bytes.count
        }
        guard lastSeq >= base else {
            throw JournalError(
                .sequenceGap, "the journal ends at seq \(lastSeq) before the snapshot's \(base)",
                file: segmentPath(firstSeqs[firstSeqs.count - 1]))
        }
        let handle = try openLastSegment(firstSeqs[firstSeqs.count - 1], cutTo: torn?.offset)
        guard let torn, torn.offset > 0 else {
            return FileJournal.SegmentState(firstSeqs: firstSeqs, handle: handle, size: size, lastWrittenSeq: lastSeq)
        }
        // After a cut, records go to a new segment: the last one kept may name a batch whose later records were cut,
        // and batches written after it in the same file would make a later power cut there look like damage to
        // acknowledged records (``SegmentScanner/lastBatchDamage(_:_:firstSeq:damaged:)``). The directory is synced
        // before the open returns (`run`).
        fileSystem.close(handle)
        let next = lastSeq + 1
        let fresh = try fileSystem.open(segmentPath(next), mode: .createNew)
        return FileJournal.SegmentState(
            firstSeqs: firstSeqs + [next], handle: fresh, size: 0, lastWrittenSeq: lastSeq)
    }

    func segmentPath(_ firstSeq: UInt64) -> String {
        layout.path(JournalLayout.segmentName(firstSeq: firstSeq))
    }

    /// Applies one record's events, naming the record if `apply` throws.
    mutating func replay(
        _ record: ScannedRecord<Event>, into state: inout State, apply: (inout State, Event) throws -> Void,
        path: String
    ) throws {
        for event in record.events {
            do {
                try apply(&state, event)
            } catch {
                throw JournalError(
                    .replayFailed, "applying record \(record.seq) failed: \(error)", file: path, offset: record.offset)
            }
        }
        report.replayedRecords += 1
    }

    /// Turns the first scan problem into the error that refuses the open.
    static func throwFirstIssue(_ issues: [SegmentIssue], path: String) throws {
        switch issues.first {
        case .none:
            return
        case .corrupt(let offset, let reason):
            throw JournalError(
                .corruptRecord, "damaged record before the last one: \(reason)", file: path, offset: offset)
        case .gap(let offset, let expected, let found):
            throw JournalError(
                .sequenceGap, "record has seq \(found), expected \(expected)", file: path, offset: offset)
        }
    }

    /// Saves the torn bytes to `<segment>.torn-<ms>` (synced) before the segment is cut.
    mutating func keepTornBytes(_ bytes: ArraySlice<UInt8>, segment firstSeq: UInt64, tail: TornTail) throws {
        let name = JournalLayout.tornName(
            segment: JournalLayout.segmentName(firstSeq: firstSeq), millis: JournalLayout.nowMillis())
        let handle = try fileSystem.open(layout.path(name), mode: .createTruncate)
        defer { fileSystem.close(handle) }
        try fileSystem.write(handle, Array(bytes))
        try fileSystem.fdatasync(handle)
        try fileSystem.fsyncDirectory(layout.directory)
        options.logger.warning(
            "journal torn tail cut off",
            metadata: [
                "file": "\(segmentPath(firstSeq))", "offset": "\(tail.offset)", "bytes": "\(tail.length)",
                "reason": "\(tail.reason)", "keptIn": "\(name)",
            ])
        report.tornFiles.append(name)
    }

    /// Opens the last segment for appending, first cutting a torn tail off, and syncs it: records a killed process
    /// wrote but never synced were read back from the page cache and count as durable from now on (start-up builds
    /// on them, a later rotation closes the segment without another sync), so they must be on disk first.
    func openLastSegment(_ firstSeq: UInt64, cutTo offset: Int?) throws -> JournalFileHandle {
        let handle = try fileSystem.open(segmentPath(firstSeq), mode: .append)
        do {
            if let offset { try fileSystem.truncate(handle, length: offset) }
            try fileSystem.fdatasync(handle)
        } catch {
            fileSystem.close(handle)
            throw error
        }
        return handle
    }
}
