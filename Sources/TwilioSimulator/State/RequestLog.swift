/// The requests the simulator received: the newest `capacity` entries, oldest first.
///
/// A ring: appending is O(1) however full it is (a plain array dropping its first element moved every entry, and
/// shared with a read snapshot it was copied whole on every request).
public struct RequestLog: Sendable {
    /// Entries kept at most (`SimulatorConfiguration.Limits.requestLogEntriesMax`).
    public let capacity: Int
    private var storage: [RequestLogEntry] = []
    /// Index of the oldest entry once the ring is full.
    private var head = 0

    /// An empty log keeping up to `capacity` entries (0 keeps none).
    public init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    /// Adds an entry, dropping the oldest when full.
    public mutating func append(_ entry: RequestLogEntry) {
        guard capacity > 0 else { return }
        if storage.count < capacity {
            storage.append(entry)
        } else {
            storage[head] = entry
            head = (head + 1) % capacity
        }
    }

    /// The entries, oldest first.
    public var entries: [RequestLogEntry] {
        Array(storage[head...] + storage[..<head])
    }

    /// Empties the log.
    public mutating func removeAll() {
        storage.removeAll()
        head = 0
    }
}
