/// Ids in ascending order, kept sorted as they are added and removed, for the listings that page by id (accounts, and
/// API keys per account): a page finds where it starts by binary search and reads its ids in order, O(log n + page
/// size) under the durable state's lock that the journal writer needs after every commit. Picking a page's ids out of
/// a dictionary's keys instead cost a pass over every key per page: at a million accounts, each of the 20 000 pages of
/// a full walk held the lock for a million comparisons.
///
/// The ids sit in runs of at most ``runLengthMax``, so an insertion or a removal moves at most that many ids plus one
/// count per run, not all of them, and a copy of the state shares the runs a change does not touch. A run emptied by
/// removals is dropped; runs are never merged (removals are rare: accounts are never removed, API keys only when the
/// oldest revoked ones are purged).
///
/// Derived: not in snapshots, rebuilt from the tables. The runs depend on history, so two compare equal when they
/// hold the same ids, however split; the invariant checker compares an index with a rebuild and checks its runs
/// (``isWellFormed``).
public struct SortedKeys: Sendable, Hashable, Sequence, ExpressibleByArrayLiteral {
    /// Most ids in one run: a run that grows past it splits in two.
    static let runLengthMax = 512

    /// The ids, ascending within each run and from one run to the next; no run is empty.
    private var runs: [[String]] = []
    /// How many ids the runs hold up to each one: `ends[i]` counts those of `runs[0...i]`.
    private var ends: [Int] = []

    /// Empty.
    init() {}

    /// `keys`, sorted, each once.
    init(_ keys: some Sequence<String>) {
        var unique: [String] = []
        for key in keys.sorted() where unique.last != key { unique.append(key) }
        var start = 0
        while start < unique.count {
            let end = Swift.min(start + Self.runLengthMax, unique.count)
            runs.append(Array(unique[start..<end]))
            ends.append(end)
            start = end
        }
    }

    /// `elements`, sorted, each once.
    public init(arrayLiteral elements: String...) {
        self.init(elements)
    }

    /// How many ids there are.
    var count: Int { ends.last ?? 0 }

    /// Whether there are none.
    var isEmpty: Bool { runs.isEmpty }

    /// The id at `position` (`0..<count`) in ascending order: O(log runs).
    subscript(position: Int) -> String {
        let (run, offset) = locate(position)
        return runs[run][offset]
    }

    /// The position of the first id greater than `key` (`count` when none), by binary search over all the ids:
    /// `examined` grows by the ids compared, at most ⌈log2(count + 1)⌉.
    func firstPosition(after key: String, examined: inout Int) -> Int {
        var (low, high) = (0, count)
        while low < high {
            let middle = (low + high) / 2
            examined += 1
            if self[middle] <= key { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Up to `limit` ids from `position` on, ascending.
    func keys(from position: Int, limit: Int) -> [String] {
        var page: [String] = []
        guard position < count, limit > 0 else { return page }
        page.reserveCapacity(Swift.min(limit, count - position))
        var (run, offset) = locate(position)
        while page.count < limit, run < runs.count {
            let taken = Swift.min(limit - page.count, runs[run].count - offset)
            page += runs[run][offset..<(offset + taken)]
            (run, offset) = (run + 1, 0)
        }
        return page
    }

    /// Adds `key`; false, and nothing changed, when it is there already.
    @discardableResult
    mutating func insert(_ key: String) -> Bool {
        guard !runs.isEmpty else {
            runs = [[key]]
            ends = [1]
            return true
        }
        // The run whose ids reach `key`, or the last one for a key past them all.
        let run = Swift.min(firstRun(reaching: key), runs.count - 1)
        let offset = Self.firstIndex(in: runs[run], notBelow: key)
        if offset < runs[run].count, runs[run][offset] == key { return false }
        runs[run].insert(key, at: offset)
        for index in run..<ends.count { ends[index] += 1 }
        if runs[run].count > Self.runLengthMax { split(run) }
        return true
    }

    /// Removes `key`; false, and nothing changed, when it is not there.
    @discardableResult
    mutating func remove(_ key: String) -> Bool {
        let run = firstRun(reaching: key)
        guard run < runs.count else { return false }
        // The run's last id is not below `key`, so the offset is inside the run.
        let offset = Self.firstIndex(in: runs[run], notBelow: key)
        guard runs[run][offset] == key else { return false }
        runs[run].remove(at: offset)
        for index in run..<ends.count { ends[index] -= 1 }
        if runs[run].isEmpty {
            runs.remove(at: run)
            ends.remove(at: run)
        }
        return true
    }

    /// Whether the runs are as ``insert(_:)`` and ``remove(_:)`` keep them: none empty or longer than
    /// ``runLengthMax``, the ids ascending without repeats, `ends` their running counts.
    var isWellFormed: Bool {
        guard ends.count == runs.count else { return false }
        var total = 0
        var previous: String?
        for (run, ids) in runs.enumerated() {
            guard !ids.isEmpty, ids.count <= Self.runLengthMax else { return false }
            total += ids.count
            guard ends[run] == total else { return false }
            for key in ids {
                if let previous, previous >= key { return false }
                previous = key
            }
        }
        return true
    }

    /// The ids in ascending order.
    public func makeIterator() -> FlattenSequence<[[String]]>.Iterator {
        runs.joined().makeIterator()
    }

    /// How many ids there are (exact).
    public var underestimatedCount: Int { count }

    /// Equal when both hold the same ids, however they are split into runs.
    public static func == (lhs: SortedKeys, rhs: SortedKeys) -> Bool {
        lhs.count == rhs.count && lhs.elementsEqual(rhs)
    }

    /// Hashes the ids in order, as `==` compares them.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for key in self { hasher.combine(key) }
    }

    /// The run holding `position` and the position within it.
    private func locate(_ position: Int) -> (run: Int, offset: Int) {
        var (low, high) = (0, ends.count)
        while low < high {
            let middle = (low + high) / 2
            if ends[middle] <= position { low = middle + 1 } else { high = middle }
        }
        return (low, low == 0 ? position : position - ends[low - 1])
    }

    /// The first run whose last id is not below `key` (`runs.count` when every id is).
    private func firstRun(reaching key: String) -> Int {
        var (low, high) = (0, runs.count)
        while low < high {
            let middle = (low + high) / 2
            if runs[middle][runs[middle].count - 1] < key { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The index of the first of `keys` (ascending) that is not below `key`.
    private static func firstIndex(in keys: [String], notBelow key: String) -> Int {
        var (low, high) = (0, keys.count)
        while low < high {
            let middle = (low + high) / 2
            if keys[middle] < key { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Splits a run grown past ``runLengthMax`` into two halves.
    private mutating func split(_ run: Int) {
        let half = runs[run].count / 2
        let upper = Array(runs[run][half...])
        runs[run].removeSubrange(half...)
        runs.insert(upper, at: run + 1)
        ends.insert(ends[run], at: run + 1)
        ends[run] -= upper.count
    }
}
