/// Checks a snapshot file's bytes: one checksummed line whose seq matches the file name.
package enum SnapshotCheck {
    /// The decoded snapshot, or why it is unusable.
    package static func check<State: Decodable>(
        _ bytes: [UInt8], seq: UInt64, as type: State.Type
    ) -> Result<SnapshotFrame<State>, SnapshotProblem> {
        guard bytes.last == UInt8(ascii: "\n") else { return .failure(SnapshotProblem("incomplete file (no newline)")) }
        let line = bytes.dropLast()
        guard !line.contains(UInt8(ascii: "\n")) else { return .failure(SnapshotProblem("more than one line")) }
        guard ChecksummedLine.verify(line) else { return .failure(SnapshotProblem("checksum mismatch")) }
        let frame: SnapshotFrame<State>
        do {
            frame = try JournalCodec.decode(SnapshotFrame<State>.self, line)
        } catch {
            return .failure(SnapshotProblem("checksum is valid but it does not decode: \(error)", intact: true))
        }
        guard frame.seq == seq else {
            return .failure(SnapshotProblem("holds seq \(frame.seq) but the file name says \(seq)", intact: true))
        }
        return .success(frame)
    }
}

/// Why a snapshot file is unusable.
package struct SnapshotProblem: Error, Sendable, Hashable, CustomStringConvertible {
    package var description: String
    /// The bytes pass their checksum: not damage but a mismatch (another state type, a renamed file), which
    /// falling back would hide.
    package var intact: Bool
    package init(_ description: String, intact: Bool = false) {
        self.description = description
        self.intact = intact
    }
}
