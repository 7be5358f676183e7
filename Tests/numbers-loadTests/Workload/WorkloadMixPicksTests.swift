import Testing

@testable import numbers_load

/// Found walking numbers-load: operations were drawn at random from a fixed seed, so a short run kept the mix's shares
/// only on average — 45 operations of `search=20,purchase=30,list=20,balance=20,get=10` held no get, the same in every
/// run. The picks now interleave the operations by weight.
@Suite("WorkloadMix.Picks: every run of the total weight's picks holds each operation its weight")
struct WorkloadMixPicksTests {
    static let mix = "search=20,purchase=30,list=20,balance=20,get=10"

    func counts(_ picks: [Operation]) -> [Operation: Int] {
        picks.reduce(into: [:]) { $0[$1, default: 0] += 1 }
    }

    @Test("any window of the total weight's picks, from any phase, holds the exact shares")
    func exactShares() throws {
        let mix = try WorkloadMix(parsing: Self.mix)
        #expect(mix.totalWeight == 100)
        for phase in [0, 1, 37, 99, 100, 1234, -3] {
            var picks = WorkloadMix.Picks(mix, phase: phase)
            let sequence = (0..<300).map { _ in picks.next() }
            for start in stride(from: 0, through: 200, by: 13) {
                let window = counts(Array(sequence[start..<(start + 100)]))
                #expect(
                    window == [.search: 20, .purchase: 30, .list: 20, .balance: 20, .get: 10],
                    "phase \(phase), from \(start): \(window)")
            }
        }
    }

    @Test("spread out: the first tenth of a cycle already holds one get, three purchases, two of the others")
    func spread() throws {
        var picks = WorkloadMix.Picks(try WorkloadMix(parsing: Self.mix))
        let first = counts((0..<10).map { _ in picks.next() })
        #expect(first == [.search: 2, .purchase: 3, .list: 2, .balance: 2, .get: 1], "\(first)")
        var list = WorkloadMix.Picks(try WorkloadMix(parsing: "list=40,balance=40,get=20"))
        #expect((0..<5).map { _ in list.next() } == [.list, .balance, .get, .list, .balance])
    }

    @Test("a zero weight is never picked; one operation alone is always picked")
    func zeroAndSingle() throws {
        var picks = WorkloadMix.Picks(try WorkloadMix(parsing: "list=3,get=0,balance=1"))
        let seen = counts((0..<400).map { _ in picks.next() })
        #expect(seen == [.list: 300, .balance: 100])
        var one = WorkloadMix.Picks(try WorkloadMix(parsing: "balance=7"), phase: 5)
        #expect((0..<20).allSatisfy { _ in one.next() == .balance })
    }

    @Test("workers at consecutive phases do not all start with the same operation")
    func phasesDiffer() throws {
        let mix = try WorkloadMix(parsing: "list=40,balance=40,get=20")
        let firsts = (0..<5).map { phase -> Operation in
            var picks = WorkloadMix.Picks(mix, phase: phase)
            return picks.next()
        }
        #expect(Set(firsts) == [.list, .balance, .get], "\(firsts)")
    }
}

extension WorkloadMixPicksTests {
    @Test("the weights add up to at most 10,000 (the cycle's length): 10,000 is taken, 10,001 refused")
    func totalWeightEdge() throws {
        let edge = try WorkloadMix(parsing: "list=5000,balance=5000")
        var picks = WorkloadMix.Picks(edge)
        #expect(counts((0..<10_000).map { _ in picks.next() }) == [.list: 5000, .balance: 5000])
        #expect(throws: (any Error).self) { try WorkloadMix(parsing: "list=5000,balance=5001") }
        #expect(throws: (any Error).self) { try WorkloadMix(parsing: "list=10001") }
    }
}
