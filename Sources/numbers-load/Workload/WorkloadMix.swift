import ArgumentParser

/// Operations chosen by weight, e.g. `list=40,balance=40,get=10,search=5,purchase=5`.
struct WorkloadMix: Sendable, Hashable, CustomStringConvertible {
    /// The largest sum of the weights: bounds the table below and a worker's phase (``Picks``).
    static let totalWeightMax = 10_000

    let weights: [(operation: Operation, weight: Int)]
    /// One entry per weight unit, in order: what makes two mixes the same.
    private let table: [Operation]

    static func == (lhs: WorkloadMix, rhs: WorkloadMix) -> Bool { lhs.table == rhs.table }
    func hash(into hasher: inout Hasher) { hasher.combine(table) }

    /// Parses `name=weight,...`; names from `Operation.mixable`, weights 0...10 000, at least one positive.
    init(parsing text: String) throws {
        var weights: [(Operation, Int)] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: true) {
            let pieces = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pieces.count == 2, let operation = Operation(rawValue: pieces[0]),
                Operation.mixable.contains(operation)
            else {
                throw ValidationError(
                    "--mix entries are NAME=WEIGHT with NAME one of "
                        + "\(Operation.mixable.map(\.rawValue).joined(separator: ", ")); got \(part)")
            }
            guard let weight = Int(pieces[1]), (0...Self.totalWeightMax).contains(weight) else {
                throw ValidationError("--mix weight of \(operation) must be 0...\(Self.totalWeightMax)")
            }
            guard !weights.contains(where: { $0.0 == operation }) else {
                throw ValidationError("--mix names \(operation) twice")
            }
            weights.append((operation, weight))
        }
        let total = weights.reduce(0) { $0 + $1.1 }
        guard total > 0 else { throw ValidationError("--mix needs at least one positive weight") }
        guard total <= Self.totalWeightMax else {
            throw ValidationError("--mix weights add up to \(total), more than \(Self.totalWeightMax)")
        }
        self.weights = weights.map { (operation: $0.0, weight: $0.1) }
        self.table = weights.flatMap { Array(repeating: $0.0, count: $0.1) }
    }

    /// The sum of the weights: every run of this many picks of ``Picks`` holds each operation its weight's times.
    var totalWeight: Int { table.count }

    /// The mix's operations in order, interleaved by weight (smooth weighted round-robin, as nginx spreads requests
    /// over weighted servers): every run of ``totalWeight`` picks holds each operation exactly its weight's times, and
    /// each operation comes at even spacing within it (`list=40,balance=40,get=20`: list, balance, get, list,
    /// balance, …). Random draws, as before, kept the shares only on average: a short run could leave an operation out
    /// entirely — 45 operations of `…,get=10` with no get, the same ones each run, the seed being fixed. `phase` skips
    /// that many picks first, so that workers started together do not all begin with the same operation.
    struct Picks {
        private let operations: [Operation]
        private let weights: [Int]
        private let total: Int
        private var current: [Int]

        init(_ mix: WorkloadMix, phase: Int = 0) {
            let positive = mix.weights.filter { $0.weight > 0 }
            operations = positive.map(\.operation)
            weights = positive.map(\.weight)
            total = mix.totalWeight
            current = Array(repeating: 0, count: positive.count)
            for _ in 0..<(phase % total) { _ = next() }
        }

        /// The next operation: each gains its weight, the one ahead (the first of those tied) is picked and falls
        /// back by the total.
        mutating func next() -> Operation {
            var best = 0
            for index in current.indices {
                current[index] += weights[index]
                if current[index] > current[best] { best = index }
            }
            current[best] -= total
            return operations[best]
        }
    }

    /// Whether any weight goes to `operation`.
    func includes(_ operation: Operation) -> Bool { weights.contains { $0.operation == operation && $0.weight > 0 } }

    /// The most calls one operation of the mix may make (``WorkloadRunner/callsMax(of:)`` over the operations with a
    /// positive weight): a call budget below it cannot start such an operation, and a worker that picks one stops.
    var callsPerOperationMax: Int {
        weights.filter { $0.weight > 0 }.map { WorkloadRunner.callsMax(of: $0.operation) }.max() ?? 1
    }

    var description: String { weights.map { "\($0.operation.rawValue)=\($0.weight)" }.joined(separator: ",") }
}

/// A small fast generator (xorshift64*) per worker: picking an operation must cost nothing next to a call, and the
/// system generator is a syscall on Linux.
struct FastRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}
