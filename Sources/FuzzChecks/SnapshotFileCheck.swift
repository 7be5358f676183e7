import Foundation
import NumberCore

/// Snapshot file bytes through `SnapshotCheck` (recovery and the offline verifier use it).
///
/// Input: byte 0 bit 0 set and no newline in the rest: the rest is the `state` JSON, given a valid checksum and
/// seq 1; otherwise the rest is the raw file, expected to hold seq 1. Properties: no crash; a checksummed file is
/// accepted or refused as `intact` (never as damage); an accepted state survives its invariant check and
/// re-encodes and checks back equal, to the same bytes; Foundation's `JSONDecoder` reads an accepted file as the same
/// state.
enum SnapshotFileCheck {
    static let name = FuzzTarget.snapshot.rawValue
    /// A fixed snapshot time for wrapped inputs (2025-11-29).
    static let time: Int64 = 1_764_385_200_123

    static func run(_ input: [UInt8]) throws(FuzzCheckFailure) {
        guard let mode = input.first else { return }
        let body = Array(input.dropFirst())
        let wrapped = mode & 1 == 1 && !body.contains(UInt8(ascii: "\n"))
        let file = wrapped ? JournalCodec.snapshotLine(seq: 1, time: time, stateJSON: body) : body
        if wrapped {
            // The records that read themselves read what their Codable conformance reads, or fail as it fails.
            let direct = try? JSONLineDecoder.decode(CoreState.self, from: body[...])
            let codable = try? JSONLineDecoder.decode(CoreState.self, from: body[...], readingDirectly: false)
            guard direct == codable else {
                throw FuzzCheckFailure(name, "the state read directly differs from the state read through Codable")
            }
        }
        switch SnapshotCheck.check(file, seq: 1, as: CoreState.self) {
        case .failure(let problem):
            guard !wrapped || problem.intact else {
                throw FuzzCheckFailure(name, "a checksummed snapshot was refused as damaged: \(problem)")
            }
        case .success(let frame):
            _ = frame.state.checkInvariants()
            try roundTrip(frame)
            let foundation = try? JSONDecoder().decode(SnapshotFrame<CoreState>.self, from: Data(file.dropLast()))
            guard let foundation, foundation.state == frame.state, foundation.seq == frame.seq,
                foundation.time == frame.time
            else { throw FuzzCheckFailure(name, "the snapshot reads differently through JSONDecoder") }
        }
    }

    static func roundTrip(_ frame: SnapshotFrame<CoreState>) throws(FuzzCheckFailure) {
        let json: [UInt8]
        do {
            json = try JournalCodec.encodeJSON(frame.state)
        } catch {
            throw FuzzCheckFailure(name, "a decoded state does not encode: \(error)")
        }
        let file = JournalCodec.snapshotLine(seq: frame.seq, time: frame.time, stateJSON: json)
        switch SnapshotCheck.check(file, seq: frame.seq, as: CoreState.self) {
        case .failure(let problem):
            throw FuzzCheckFailure(name, "a re-encoded snapshot is refused: \(problem)")
        case .success(let again):
            guard again.state == frame.state, again.time == frame.time,
                (try? JournalCodec.encodeJSON(again.state)) == json
            else { throw FuzzCheckFailure(name, "the state does not round-trip") }
        }
        // The records that write their own JSON write what their Codable conformance would.
        guard
            (try? JSONLineEncoder.encode(frame.state, sortingDictionaries: true, writingDirectly: false)) == json
        else { throw FuzzCheckFailure(name, "direct JSON differs from the Codable JSON") }
    }
}
