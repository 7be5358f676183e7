/// The format of a store's files on disk, as its `FORMAT` file records it: the format the files were written in, and
/// the lowest reader format that may open them.
///
/// A build writes one format and reads every format up to it. A store whose `readers` is above the format a build
/// reads is refused before anything is written (``StoreFormatFile``): an older build would otherwise ignore what it
/// does not know — a snapshot table, a field — and lose it for good at its next snapshot, or stop at an event kind it
/// does not know as if the journal were damaged. `format` may move on without `readers` when an older reader loses
/// nothing that matters by reading the newer files.
///
/// ```swift
/// let written = StoreFormat(format: 2, readers: 1)
/// written.isReadable(by: 1)  // true: format 1 readers lose nothing that matters
/// ```
public struct StoreFormat: Sendable, Hashable, CustomStringConvertible {
    /// The format the files were written in.
    public let format: Int
    /// The lowest reader format that may open them (at most `format`).
    public let readers: Int

    /// A format; `readers` must be 1...`format`.
    public init(format: Int, readers: Int) {
        precondition(readers >= 1 && readers <= format, "a store format needs 1 ≤ readers ≤ format")
        self.format = format
        self.readers = readers
    }

    /// A format read from a file, nil unless 1 ≤ readers ≤ format.
    init?(validating format: Int, readers: Int) {
        guard readers >= 1, readers <= format else { return nil }
        self.init(format: format, readers: readers)
    }

    /// What a store from before the `FORMAT` file is: format 1.
    public static let legacy = StoreFormat(format: 1, readers: 1)

    /// Whether a build that reads formats up to `readerFormat` may open files of this format.
    public func isReadable(by readerFormat: Int) -> Bool { readers <= readerFormat }

    /// What the store holds once a build writing `self` has opened a store of `found`: formats never go back (the
    /// files may hold records of either), so the higher of each.
    func merged(with found: StoreFormat) -> StoreFormat {
        StoreFormat(format: max(format, found.format), readers: max(readers, found.readers))
    }

    /// `format 1 (readers 1)`.
    public var description: String { "format \(format) (readers \(readers))" }

    /// An event that shows by its value, not by a key of its own, that the files holding it need newer readers (a key
    /// that other records also use: format 6's `"key"` on `numberReleaseRequested`, which idempotency records have
    /// had since format 4). ``JournalVerifier`` asks each journal event it decodes.
    package protocol Marking {
        /// The marker this event stands for, nil for none.
        var formatMarker: Marker? { get }
    }

    /// A JSON object key whose presence in a store's files shows that they need readers of at least `readers`: an
    /// older reader ignores the key, or cannot decode the record holding it. ``JournalVerifier`` looks for them, since
    /// a `FORMAT` naming older readers than the files need — one restored from an older backup, or none at all after a
    /// hand copy of the files — lets an older numberd open the store and lose what it does not know.
    public struct Marker: Sendable, Hashable {
        public let key: String
        public let readers: Int

        public init(key: String, readers: Int) {
            self.key = key
            self.readers = readers
        }

        /// The marker of the highest `readers` above `floor` whose key is a key of an object in `bytes` (compact JSON:
        /// a quoted key right after `{` or `,` and followed by `:`; the same text inside a string has its quotes
        /// escaped), or nil.
        static func highest(in bytes: [UInt8], of markers: [Marker], above floor: Int) -> Marker? {
            let candidates = markers.filter { $0.readers > floor }.sorted { $0.readers > $1.readers }
            guard !candidates.isEmpty else { return nil }
            let keys = candidates.map { Array("\"\($0.key)\":".utf8) }
            var found: Int?
            bytes.withUnsafeBufferPointer { bytes in
                var index = 1
                while index < bytes.count {
                    defer { index += 1 }
                    guard bytes[index] == UInt8(ascii: "\""),
                        bytes[index - 1] == UInt8(ascii: "{")
                            || bytes[index - 1] == UInt8(ascii: ",")
                    else { continue }
                    for (number, key) in keys.enumerated() where found.map({ number < $0 }) ?? true {
                        guard index + key.count <= bytes.count else { continue }
                        if bytes[index..<(index + key.count)].elementsEqual(key) { found = number }
                    }
                    if found == 0 { return }
                }
            }
            return found.map { candidates[$0] }
        }
    }
}
