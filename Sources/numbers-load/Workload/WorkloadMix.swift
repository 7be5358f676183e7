import ArgumentParser

/// Operations chosen by weight, e.g. `list=40,balance=40,get=10,search=5,purchase=5`.
struct WorkloadMix: Sendable, Hashable, CustomStringConvertible {
    /// The largest sum of the weights: bounds ``cycle``.
    static let totalWeightMax = 10_000

    let weights: [(operation: Operation, weight: Int)]
    /// One cycle of the picks (``Picks``): one entry per weight unit, the operations interleaved by weight (smooth
    /// weighted round-robin, as nginx spreads requests over weighted servers: each operation gains its weight at
    /// every step, the one ahead — the first of those tied — is picked and falls back by the total). Any run of this
    /// many picks holds each operation exactly its weight's times, and any run from the cycle's start is within one
    /// pick of its share (`list=40,balance=40,get=20`: list, balance, get, list, balance, …). What makes two mixes
    /// the same.
    private let cycle: [Operation]

    static func == (lhs: WorkloadMix, rhs: WorkloadMix) -> Bool { lhs.cycle == rhs.cycle }
    func hash(into hasher: inout Hasher) { hasher.combine(cycle) }

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
        let positive = weights.filter { $0.1 > 0 }
        var current = Array(repeating: 0, count: positive.count)
        var cycle: [Operation] = []
        cycle.reserveCapacity(total)
        for _ in 0..<total {
            var best = 0
            for index in current.indices {
                current[index] += positive[index].1
                if current[index] > current[best] { best = index }
            }
            current[best] -= total
            cycle.append(positive[best].0)
        }
        self.cycle = cycle
    }

    /// The sum of the weights: every run of this many picks of ``Picks`` holds each operation its weight's times.
    var totalWeight: Int { cycle.count }

    /// The mix's operations in order, round and round its ``cycle``. Random draws, as before, kept the shares only on
    /// average: a short run could leave an operation out entirely — 45 operations of `…,get=10` with no get, the same
    /// ones each run, the seed being fixed. `phase` starts that far into the cycle (any integer), so that workers
    /// started together do not all begin with the same operation.
    struct Picks {
        private let cycle: [Operation]
        private var position: Int

        init(_ mix: WorkloadMix, phase: Int = 0) {
            cycle = mix.cycle
            position = ((phase % cycle.count) + cycle.count) % cycle.count
        }

        mutating func next() -> Operation {
            defer { position = position + 1 == cycle.count ? 0 : position + 1 }
            return cycle[position]
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

/// A small fast generator (xorshift64*) per worker (which owned number a `get` asks for): it must cost nothing next to
/// a call, and the system generator is a syscall on Linux.
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
