/// The fuzz targets: each names its corpus directory and the check every input goes through.
public enum FuzzTarget: String, Sendable, CaseIterable {
    /// nrpc/1 frames over arbitrary bytes, with and without the client preface.
    case frameDecoder = "FuzzFrameDecoder"
    /// Protobuf bodies of every request type (and RequestHeaders, RpcStatus), chosen by the first byte.
    case messageDecoder = "FuzzMessageDecoder"
    /// Journal segment bytes through the segment scanner.
    case journalRecord = "FuzzJournalRecord"
    /// Snapshot file bytes through the snapshot check.
    case snapshot = "FuzzSnapshot"

    /// Runs the target's check on one input: returns if the input was handled correctly (decoded, or refused
    /// with the module's typed error), throws `FuzzCheckFailure` otherwise. A crash is a crash.
    public func check(_ input: [UInt8]) throws(FuzzCheckFailure) {
        switch self {
        case .frameDecoder: try FrameDecoderCheck.run(input)
        case .messageDecoder: try MessageDecoderCheck.run(input)
        case .journalRecord: try JournalRecordCheck.run(input)
        case .snapshot: try SnapshotFileCheck.run(input)
        }
    }
}
