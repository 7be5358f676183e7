/// Candidate numbers of one numbering area (optionally with a `Contains` pattern placed at one offset),
/// produced in a seeded order that spreads over the whole block.
struct CandidateStream {
    let area: NumberingArea
    /// Full-number digits with the fixed ones set; free positions are overwritten per candidate.
    private var template: [UInt8]
    /// Indices of the free positions in `template`.
    private let free: [Int]
    /// 10^free.count (subscriber blocks have at most 8 digits).
    private let total: UInt64
    private let multiplier: UInt64
    private let offset: UInt64
    private var index: UInt64 = 0

    init(area: NumberingArea, template: [UInt8], free: [Int], seed: UInt64) {
        self.area = area
        self.template = template
        self.free = free
        var total: UInt64 = 1
        for _ in free { total *= 10 }
        self.total = total
        var rng = SeededGenerator(seed: VirtualInventory.hash(area.prefixValues + [UInt8(free.count)], seed: seed))
        // An affine map i → (a·i + c) mod 10^f is a bijection when a is coprime with 10.
        var a = rng.next() % total
        while a % 2 == 0 || a % 5 == 0 { a += 1 }
        self.multiplier = total == 1 ? 1 : a % total
        self.offset = rng.next() % total
    }

    /// The next candidate's full digits, or nil when the block is exhausted.
    mutating func next() -> [UInt8]? {
        guard index < total else { return nil }
        // Subscriber blocks are at most 10^8, so the product stays far below 2^64.
        var value = (multiplier * index + offset) % total
        index += 1
        var digits = template
        for position in free.reversed() {
            digits[position] = UInt8(value % 10)
            value /= 10
        }
        return digits
    }

    /// The streams of `area`: one over the whole block without a pattern, else one per offset the pattern fits.
    static func streams(area: NumberingArea, pattern: ContainsPattern?, seed: UInt64) -> [CandidateStream] {
        let prefix = area.prefixValues
        let length = prefix.count + area.subscriberDigits
        var template = prefix + [UInt8](repeating: 0, count: area.subscriberDigits)
        guard let pattern else {
            return [CandidateStream(area: area, template: template, free: Array(prefix.count..<length), seed: seed)]
        }
        let m = pattern.tokens.count
        guard m <= length else { return [] }
        var offsets = Array(0...(length - m))
        if pattern.anchoredStart { offsets = offsets.filter { $0 == 0 } }
        if pattern.anchoredEnd { offsets = offsets.filter { $0 == length - m } }
        var result: [CandidateStream] = []
        for start in offsets {
            guard let fixed = place(pattern, at: start, prefix: prefix, length: length) else { continue }
            template = prefix + [UInt8](repeating: 0, count: area.subscriberDigits)
            var free: [Int] = []
            for position in prefix.count..<length {
                if let digit = fixed[position] { template[position] = digit } else { free.append(position) }
            }
            result.append(CandidateStream(area: area, template: template, free: free, seed: seed ^ UInt64(start)))
        }
        return result
    }

    /// Fixed digits per position when the pattern sits at `start`, or nil when it contradicts the prefix.
    private static func place(_ pattern: ContainsPattern, at start: Int, prefix: [UInt8], length: Int) -> [UInt8?]? {
        var fixed = [UInt8?](repeating: nil, count: length)
        for (offset, token) in pattern.tokens.enumerated() {
            let position = start + offset
            guard case .digit(let d) = token else { continue }
            if position < prefix.count {
                guard prefix[position] == d else { return nil }
            } else {
                fixed[position] = d
            }
        }
        return fixed
    }
}
