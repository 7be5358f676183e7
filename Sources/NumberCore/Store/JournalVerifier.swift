import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Checks a data directory offline and reports every problem, modifying nothing (`numberd verify`).
///
/// ```swift
/// let report = JournalVerifier.verify(directory: URL(fileURLWithPath: "/var/lib/numberd"))
/// for problem in report.problems { print(problem) }
/// ```
public enum JournalVerifier {
    /// Verifies checksums, seq continuity, torn tails, snapshots and journal coverage; lines are checked as JSON
    /// records without decoding the events.
    public static func verify(
        directory: URL, fileSystem: any JournalFileSystem = POSIXJournalFileSystem(),
        limits: JournalOptions.Limits = .defaults
    ) -> JournalVerificationReport {
        verify(
            directory: directory, event: AnyJSONValue.self, state: AnyJSONValue.self, fileSystem: fileSystem,
            limits: limits)
    }

    /// Like `verify(directory:)`, and also decodes every event and snapshot as the given types. With a `reader` (the
    /// format a build reads up to), a `FORMAT` asking for a newer reader is an error (`formatTooNew`), as open refuses
    /// it; a damaged `FORMAT` is one in any case (`formatDamaged`). A file holding one of `markers` of readers above
    /// what `FORMAT` names (none: format 1) is a warning (`formatBehindContent`): an older numberd would open the
    /// store and lose what it does not know; opening it with a numberd of the files' format records the right one.
    ///
    /// `inUse`: a running numberd holds the directory. Its snapshots then remove the segments and the snapshot they
    /// replace, maybe between the listing and the read of a file (reading a large store takes minutes): a file listed
    /// and gone (`ENOENT`) is not damage, and the check starts again from a new listing, at most
    /// ``attemptsWhileInUseMax`` times in all; after that the report is
    /// ``JournalVerificationReport/changedTooFast``, with no problem listed. Without it, a file gone is an `io` error
    /// (nothing else removes a store's files while the check holds its lock).
    public static func verify<Event: Decodable, State: Decodable>(
        directory: URL, event: Event.Type, state: State.Type,
        fileSystem: any JournalFileSystem = POSIXJournalFileSystem(), limits: JournalOptions.Limits = .defaults,
        reader: StoreFormat? = nil, markers: [StoreFormat.Marker] = [], inUse: Bool = false
    ) -> JournalVerificationReport {
        let path = directory.standardizedFileURL.path
        for _ in 1...attemptsWhileInUseMax {
            var run = VerifierRun<Event, State>(
                directory: path, fileSystem: fileSystem, limits: limits, reader: reader, markers: markers, inUse: inUse)
            run.verify()
            guard run.removedMeanwhile else { return run.report }
        }
        var report = JournalVerificationReport(directory: path)
        report.changedTooFast = true
        return report
    }

    /// How many times a check of a store in use starts again from a new listing when a file it listed is gone before
    /// it is read (`verifyDataDirectory`'s copy for its replay too).
    public static let attemptsWhileInUseMax = 3
}

/// One verification pass.
struct VerifierRun<Event: Decodable, State: Decodable> {
    let layout: JournalLayout
    let fileSystem: any JournalFileSystem
    let limits: JournalOptions.Limits
    let reader: StoreFormat?
    /// The keys that show which readers the files need (``StoreFormat/Marker``).
    let markers: [StoreFormat.Marker]
    /// The marker of the highest readers found in the files so far, and the file holding it.
    var contentNeeds: (marker: StoreFormat.Marker, file: String)?
    /// Whether a running numberd holds the directory (its snapshots may remove files this pass listed).
    let inUse: Bool
    var report: JournalVerificationReport
    /// Whether a file listed was gone when it was to be read, removed by the running numberd: this pass's report
    /// is not the store's (``JournalVerifier/verify(directory:event:state:fileSystem:limits:reader:inUse:)``).
    var removedMeanwhile = false

    init(
        directory: String, fileSystem: any JournalFileSystem, limits: JournalOptions.Limits, reader: StoreFormat?,
        markers: [StoreFormat.Marker] = [], inUse: Bool = false
    ) {
        self.layout = JournalLayout(directory: directory)
        self.fileSystem = fileSystem
        self.limits = limits
        self.reader = reader
        self.markers = markers
        self.inUse = inUse
        self.report = JournalVerificationReport(directory: directory)
    }

    mutating func problem(
        _ severity: JournalVerificationReport.Severity, _ code: String, _ file: String, offset: Int? = nil,
        _ message: String
    ) {
        report.problems.append(.init(severity: severity, code: code, file: file, offset: offset, message: message))
    }

    mutating func verify() {
        let names: [String]
        do {
            names = try fileSystem.listDirectory(layout.directory).sorted()
        } catch {
            problem(.error, "io", layout.directory, "cannot list the directory: \(error)")
            return
        }
        report.keptAside = names.filter { $0.contains(".torn-") || $0.contains(".damaged-") }
        for name in names where JournalLayout.isSnapshotTemp(name) || name == JournalLayout.formatTempName {
            problem(.warning, "leftoverFile", name, "temp file left by a crash (open removes it)")
        }
        checkFormat()
        checkSnapshots(names)
        checkSegments(names.compactMap(JournalLayout.segmentSeq).sorted())
        checkCoverage()
        checkFormatCoversContent()
    }

    /// What `FORMAT` says, and whether open would refuse it.
    mutating func checkFormat() {
        let file = StoreFormatFile(layout: layout, fileSystem: fileSystem)
        let found: StoreFormat?
        do {
            found = try file.read()
        } catch {
            report.format = .damaged
            let message = (error as? JournalError)?.message ?? "\(error)"
            problem(
                .error, "\(JournalError.Code.formatDamaged)", JournalLayout.formatName, "\(message) (open refuses it)")
            return
        }
        report.format = found.map { .recorded($0) } ?? .absent
        if let reader, let refusal = file.refusal(found, reader: reader) {
            problem(.error, "\(refusal.code)", JournalLayout.formatName, "\(refusal.message) (open refuses it)")
        }
    }

    /// The readers `FORMAT` names (none: format 1's); nil when it is damaged (`formatDamaged` says so).
    var namedReaders: Int? {
        switch report.format {
        case .damaged: nil
        case .absent: StoreFormat.legacy.readers
        case .recorded(let format): format.readers
        }
    }

    /// Notes the highest marker in a file's `bytes` (``contentNeeds``) above what `FORMAT` names (``checkFormat()``
    /// ran first): a current store's files are not scanned at all.
    mutating func noteMarkers(_ bytes: [UInt8], file: String) {
        guard let named = namedReaders else { return }
        let floor = max(contentNeeds?.marker.readers ?? 1, named)
        if let marker = StoreFormat.Marker.highest(in: bytes, of: markers, above: floor) {
            contentNeeds = (marker, file)
        }
    }

    /// Notes what the decoded events of `records` show by their values (``StoreFormat/Marking``), as
    /// ``noteMarkers(_:file:)`` does for keys.
    mutating func noteMarkers(_ records: [ScannedRecord<Event>], file: String) {
        guard let named = namedReaders, Event.self is any StoreFormat.Marking.Type else { return }
        for record in records {
            for case let event as any StoreFormat.Marking in record.events {
                guard let marker = event.formatMarker,
                    marker.readers > max(contentNeeds?.marker.readers ?? 1, named)
                else { continue }
                contentNeeds = (marker, file)
            }
        }
    }

    /// A `FORMAT` (or none: format 1) naming older readers than the files need: a warning, since this build reads the
    /// files and its open records their format, but an older numberd started on them first would open the store and
    /// lose what it does not know at its next snapshot (a review: verify and restore passed such a store as sound).
    mutating func checkFormatCoversContent() {
        guard let named = namedReaders, let (marker, file) = contentNeeds, marker.readers > named else { return }
        problem(
            .warning, "formatBehindContent", JournalLayout.formatName,
            "\(report.format) names readers \(named), but \(file) holds \"\(marker.key)\", which needs "
                + "readers \(marker.readers): an older numberd would open the store and lose what it does not know. "
                + "Start no numberd older than the one that wrote the files on it; opening it with this numberd "
                + "records its format")
    }

    mutating func read(_ name: String, limit: Int, note: String = "") -> [UInt8]? {
        // This pass starts again anyway: the files after the one gone need not be read.
        guard !removedMeanwhile else { return nil }
        do {
            return try fileSystem.readFile(layout.path(name), limitBytes: limit)
        } catch let failure as JournalFailure where inUse && failure.errno == ENOENT {
            removedMeanwhile = true
            return nil
        } catch {
            problem(.error, "io", name, "cannot read: \(error)\(note)")
            return nil
        }
    }

    mutating func checkSnapshots(_ names: [String]) {
        for seq in names.compactMap(JournalLayout.snapshotSeq).sorted() {
            let name = JournalLayout.snapshotName(seq: seq)
            let note = " (open falls back to an older snapshot, or the journal from seq 1, and leaves it in place)"
            guard let bytes = read(name, limit: limits.snapshotBytesMax, note: note) else {
                report.snapshots.append(.init(file: name, seq: seq, valid: false))
                continue
            }
            noteMarkers(bytes, file: name)
            switch SnapshotCheck.check(bytes, seq: seq, as: State.self) {
            case .success:
                report.snapshots.append(.init(file: name, seq: seq, valid: true))
            case .failure(let reason) where reason.intact:
                report.snapshots.append(.init(file: name, seq: seq, valid: false))
                problem(.error, "corruptRecord", name, "\(reason) (open refuses it)")
            case .failure(let reason):
                report.snapshots.append(.init(file: name, seq: seq, valid: false))
                problem(.warning, "damagedSnapshot", name, "\(reason) (open falls back to an older snapshot)")
            }
        }
    }

    mutating func checkSegments(_ firstSeqs: [UInt64]) {
        var previousLast: UInt64?
        for (index, first) in firstSeqs.enumerated() {
            let name = JournalLayout.segmentName(firstSeq: first)
            if let previousLast, first != previousLast &+ 1 {
                problem(
                    .error, "sequenceGap", name, offset: 0, "segment starts at \(first), expected \(previousLast &+ 1)")
            }
            guard let bytes = read(name, limit: limits.segmentReadBytesMax) else {
                previousLast = nil
                continue
            }
            noteMarkers(bytes, file: name)
            let isLast = index == firstSeqs.count - 1
            let scan = SegmentScanner.scan(bytes, firstSeq: first, as: Event.self, lastSegment: isLast)
            report(scan.issues, file: name)
            noteMarkers(scan.records, file: name)
            if let torn = scan.torn {
                problem(
                    isLast ? .warning : .error, isLast ? "tornTail" : "corruptRecord", name, offset: torn.offset,
                    "\(torn.reason), \(torn.length) bytes"
                        + (isLast ? " (open cuts it off and keeps it aside)" : " in a segment that is not the last"))
            }
            report.segments.append(
                .init(
                    file: name, firstSeq: first, lastSeq: scan.lastSeq, records: scan.records.count, bytes: bytes.count)
            )
            previousLast = scan.lastSeq
            report.lastSeq = max(report.lastSeq, scan.records.last?.seq ?? 0)
        }
    }

    mutating func report(_ issues: [SegmentIssue], file: String) {
        for issue in issues {
            switch issue {
            case .corrupt(let offset, let reason):
                problem(.error, "corruptRecord", file, offset: offset, "damaged record before the last one: \(reason)")
            case .gap(let offset, let expected, let found):
                problem(.error, "sequenceGap", file, offset: offset, "record has seq \(found), expected \(expected)")
            }
        }
    }

    /// The newest valid snapshot (or the start) must be followed by the journal without a hole, and the journal must
    /// reach every snapshot that cannot be used (unreadable, damaged, or set aside as damaged), as open requires.
    mutating func checkCoverage() {
        let base = report.snapshots.last(where: \.valid)?.seq ?? 0
        let unusable =
            report.snapshots.filter { !$0.valid }.map(\.seq)
            + report.keptAside.compactMap(JournalLayout.damagedSnapshotSeq)
        if let reached = unusable.max(), reached > max(report.lastSeq, base) {
            problem(
                .error, "missingJournal", layout.directory,
                "a snapshot shows records through seq \(reached) were written, but no usable snapshot holds them and "
                    + "the journal ends at seq \(report.lastSeq) (open refuses)")
        }
        guard let first = report.segments.first else {
            if base > 0 || !report.snapshots.isEmpty {
                problem(.error, "missingJournal", layout.directory, "snapshots exist but no journal segment")
            }
            return
        }
        let needed = report.segments.last { $0.firstSeq <= base + 1 }
        if needed == nil {
            problem(
                .error, base == 0 ? "missingJournal" : "sequenceGap", first.file, offset: 0,
                "the journal starts at \(first.firstSeq) but the newest usable snapshot holds through \(base)")
        }
        if let last = report.segments.last, last.lastSeq < base {
            problem(
                .error, "sequenceGap", last.file, "the journal ends at \(last.lastSeq) before the snapshot's \(base)")
        }
        for snapshot in report.snapshots where snapshot.valid && snapshot.seq < base {
            if !report.segments.contains(where: { $0.firstSeq <= snapshot.seq + 1 }) {
                problem(
                    .warning, "fallbackUnusable", snapshot.file,
                    "the journal no longer reaches back to this snapshot; it cannot stand in for a newer one")
            }
        }
    }
}
