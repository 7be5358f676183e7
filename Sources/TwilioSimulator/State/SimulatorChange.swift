/// What one request changed in a `SimulatorState` that tracks changes: the SIDs of the owned numbers and trunks whose
/// records it wrote or removed (the journal line carries their values after it), and the steps that undo all of it
/// (counters and the SID generator included) when the change cannot be made durable.
///
/// Every mutation of owned numbers, trunks and creation sequences goes through `SimulatorState`'s mutating methods
/// (their setters are private), so nothing the router changes escapes it.
struct SimulatorChange: Sendable {
    /// PN SIDs bought, updated or released.
    var numbers: Set<String> = []
    /// TK SIDs created, updated or deleted.
    var trunks: Set<String> = []
    /// E.164 numbers another account bought (``SimulatorState/sellElsewhere(_:)``).
    var soldElsewhere: Set<String> = []
    /// A SID was issued: the SID generator and the creation counter moved.
    var issued = false
    /// Inverse steps, oldest first.
    var undo: [@Sendable (inout SimulatorState) -> Void] = []

    /// True when nothing durable changed: no journal line is needed.
    var isEmpty: Bool { numbers.isEmpty && trunks.isEmpty && soldElsewhere.isEmpty && !issued }
}
