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
}
