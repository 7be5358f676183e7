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
        // Whether the last segment's last record kept names a batch that runs past it (its later records cut, now or
        // by an earlier start, or never written whole by a process killed mid-write).
        var batchCut = false
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
            // Per segment: only the last one takes writes, and a batch never spans two (the writer writes a whole
            // batch to one file, and one that met the file size limit is cut off and written again in the next). An
            // empty or wholly cut last segment is named after the next seq already: it takes the next batch itself.
            // Kept from the segment before, it made the start below create that same file again (EEXIST at every
            // start, after a start that made the new segment and failed before writing to it).
            batchCut = scan.records.last.map { ($0.batch?.last ?? $0.seq) > $0.seq } ?? false
        }
        guard lastSeq >= base else {
            throw JournalError(
                .sequenceGap, "the journal ends at seq \(lastSeq) before the snapshot's \(base)",
                file: segmentPath(firstSeqs[firstSeqs.count - 1]))
        }
        let handle = try openLastSegment(firstSeqs[firstSeqs.count - 1], cutTo: torn?.offset)
        guard batchCut || (torn.map { $0.offset > 0 } ?? false) else {
            return FileJournal.SegmentState(firstSeqs: firstSeqs, handle: handle, size: size, lastWrittenSeq: lastSeq)
        }
        // After a cut, records go to a new segment: the last one kept may name a batch whose later records were cut,
        // and batches written after it in the same file would make a later power cut there look like damage to
        // acknowledged records (``SegmentScanner/lastBatchDamage(_:_:firstSeq:damaged:)``). Decided from the records
        // kept, not only from this open's cut: a segment can end on whole lines of a cut batch with nothing torn (a
        // write stopped at a line's end, or an earlier start that cut the tail and failed before making the next
        // segment). The directory is synced before the open returns (`run`).
        let next = lastSeq + 1
        let fresh: JournalFileHandle
        do {
            fresh = try fileSystem.open(segmentPath(next), mode: .createNew)
        } catch let failure as JournalFailure where failure.isNoRoom {
            // No room for the file (a disk out of inodes, a quota): as the writer does with a rotation that finds none,
            // the segment stays open with its rotation postponed, and each write tries the rotation first and is
            // refused `noRoom` until one succeeds — never written after the cut batch. Refusing the start instead
            // left a numberd that would serve reads unable to start, start after start, while the disk stayed full.
            options.logger.warning(
                "no room for a new journal segment after a cut batch; writes are refused until there is room",
                metadata: ["file": "\(segmentPath(next))", "failure": "\(failure)"])
            return FileJournal.SegmentState(
                firstSeqs: firstSeqs, handle: handle, size: size, lastWrittenSeq: lastSeq, rotationPostponed: true)
        } catch {
            fileSystem.close(handle)
            throw error
        }
        fileSystem.close(handle)
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

    /// Saves the torn bytes to `<segment>.torn-<ms>` (synced) before the segment is cut. A file that could not be
    /// written whole and synced is removed again (a full disk left a half-written one at every start that failed
    /// there). When a torn file of the segment already holds exactly these bytes — an earlier start kept them, then
    /// failed before its cut — that one is made durable and named instead of a second copy. Once a new one is kept,
    /// the oldest torn files beyond `tornFilesKept` are removed once the open goes ahead (``removeOldTornFiles()``).
    ///
    /// With no room for the copy (`ENOSPC`, `EDQUOT`, or `EFBIG` at the file size limit: ``JournalFailure/isNoRoom``,
    /// as for a journal write) the tail is cut without one, logged as an error with its offset and length: its bytes
    /// were never acknowledged (a record is acknowledged once synced whole, and a torn one is not whole), and refusing
    /// the open left a numberd on a full disk unable to start, start after start, when it would otherwise serve reads
    /// and refuse writes until there is room. Any other failure still refuses the open.
    mutating func keepTornBytes(_ bytes: ArraySlice<UInt8>, segment firstSeq: UInt64, tail: TornTail) throws {
        let segment = JournalLayout.segmentName(firstSeq: firstSeq)
        let names = try fileSystem.listDirectory(layout.directory)
        let name: String
        if let kept = try alreadyKept(bytes, segment: segment, names: names) {
            name = kept
        } else {
            name = JournalLayout.tornName(segment: segment, millis: JournalLayout.nowMillis())
            do {
                try writeSynced(Array(bytes), to: layout.path(name))
            } catch let failure as JournalFailure where failure.isNoRoom {
                options.logger.error(
                    "journal torn tail cut off without a copy: no room for one",
                    metadata: [
                        "file": "\(segmentPath(firstSeq))", "offset": "\(tail.offset)", "bytes": "\(tail.length)",
                        "reason": "\(tail.reason)", "error": "\(failure)",
                    ])
                return
            }
        }
        try fileSystem.fsyncDirectory(layout.directory)
        options.logger.warning(
            "journal torn tail cut off",
            metadata: [
                "file": "\(segmentPath(firstSeq))", "offset": "\(tail.offset)", "bytes": "\(tail.length)",
                "reason": "\(tail.reason)", "keptIn": "\(name)",
            ])
        report.tornFiles.append(name)
        keptTornFile = name
    }

    /// The torn file of `segment` among `names` that holds exactly `bytes`, synced again; nil if there is none.
    func alreadyKept(_ bytes: ArraySlice<UInt8>, segment: String, names: [String]) throws -> String? {
        let candidates = names.filter { $0.hasPrefix(segment + ".torn-") && JournalLayout.tornMillis($0) != nil }
        for candidate in candidates {
            // Larger than the tail: not the same bytes (`fileTooLarge`); unreadable: not proof of anything.
            guard let held = try? fileSystem.readFile(layout.path(candidate), limitBytes: bytes.count),
                held.elementsEqual(bytes)
            else { continue }
            // It may never have been synced (written by a version that did not remove a failed copy).
            let handle = try fileSystem.open(layout.path(candidate), mode: .append)
            defer { fileSystem.close(handle) }
            try fileSystem.fdatasync(handle)
            return candidate
        }
        return nil
    }

    /// Writes and syncs a new file; one that could not be written whole and synced is removed.
    func writeSynced(_ bytes: [UInt8], to path: String) throws {
        let handle = try fileSystem.open(path, mode: .createTruncate)
        do {
            try fileSystem.write(handle, bytes)
            try fileSystem.fdatasync(handle)
            fileSystem.close(handle)
        } catch {
            fileSystem.close(handle)
            try? fileSystem.remove(path)
            throw error
        }
    }

    /// After a torn file was kept, removes the oldest torn files beyond `tornFilesKept`, never the one kept: called
    /// once the open goes ahead (a refused open removes none). A removal that fails is logged and left: the start
    /// does not depend on it.
    func removeOldTornFiles() {
        guard let kept = keptTornFile else { return }
        let names: [String]
        do {
            names = try fileSystem.listDirectory(layout.directory)
        } catch {
            options.logger.error(
                "journal could not list old torn-tail files to remove", metadata: ["error": "\(error)"])
            return
        }
        let torn = names.compactMap { name in JournalLayout.tornMillis(name).map { (name, $0) } }
        guard torn.count > options.tornFilesKept else { return }
        let oldestFirst = torn.filter { $0.0 != kept }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        for (name, _) in oldestFirst.prefix(torn.count - options.tornFilesKept) {
            do {
                try fileSystem.remove(layout.path(name))
                options.logger.notice(
                    "journal removing an old torn-tail file",
                    metadata: ["file": "\(name)", "tornFilesKept": "\(options.tornFilesKept)"])
            } catch {
                options.logger.error(
                    "journal could not remove an old torn-tail file",
                    metadata: ["file": "\(name)", "error": "\(error)"])
            }
        }
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
            // The sync makes durable what a killed process wrote and never synced; failed, Linux keeps those pages
            // in its cache, clean, and the next start would read them and its sync "succeed": records the disk may
            // not hold, served and built on. Dropped, the next start reads what the disk has (a torn tail cut as
            // such, nothing of it acknowledged).
            fileSystem.dropCachedPages(handle)
            fileSystem.close(handle)
            throw error
        }
        return handle
    }
}
