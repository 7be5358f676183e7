import Foundation
import Logging

/// The store's `FORMAT` file: one line of JSON, `{"format":1,"readers":1}`, saying which ``StoreFormat`` wrote the
/// store. `FileJournal.open` reads it before anything is written and refuses a store its build must not open; once the
/// open goes ahead it records the format (a new store, a store from before the file, a store of an older format) before
/// any record is appended, so no record of a format is ever on disk without a `FORMAT` that names it.
///
/// Plain JSON without a checksum, so an operator can read it (`cat store/FORMAT`); a file that is not exactly such an
/// object, or cannot be read, is refused as damaged — never taken for a missing one, which means format 1.
package struct StoreFormatFile {
    /// The largest `FORMAT` read: it holds a few dozen bytes, so anything past this is not one.
    static let bytesMax = 4096

    let layout: JournalLayout
    let fileSystem: any JournalFileSystem

    package init(layout: JournalLayout, fileSystem: any JournalFileSystem) {
        self.layout = layout
        self.fileSystem = fileSystem
    }

    /// The path of `FORMAT`.
    var path: String { layout.path(JournalLayout.formatName) }

    /// What `FORMAT` says; nil when there is none (a new store, or one from before the file: format 1). Throws
    /// `formatDamaged` when it exists but cannot be read or does not hold a format.
    package func read() throws -> StoreFormat? {
        let bytes: [UInt8]
        do {
            bytes = try fileSystem.readFile(path, limitBytes: Self.bytesMax)
        } catch let failure as JournalFailure where failure.errno == ENOENT {
            return nil
        } catch {
            throw damaged("it cannot be read: \(error)")
        }
        switch Self.decode(bytes) {
        case .success(let format): return format
        case .failure(let reason): throw damaged(reason.text)
        }
    }

    /// Reads `FORMAT` and refuses (`formatTooNew`) a store a build reading formats up to `reader.format` must not
    /// open; returns what it found. Writes nothing.
    package func admit(reader: StoreFormat) throws -> StoreFormat? {
        let found = try read()
        if let refusal = refusal(found, reader: reader) { throw refusal }
        return found
    }

    /// The error refusing a store of format `found` to a build reading formats up to `reader.format`, nil if it may
    /// open it.
    package func refusal(_ found: StoreFormat?, reader: StoreFormat) -> JournalError? {
        guard let found, !found.isReadable(by: reader.format) else { return nil }
        return JournalError(
            .formatTooNew,
            "this store was written by store format \(found.format) and needs a numberd that reads format "
                + "\(found.readers) or later; this numberd reads store formats up to \(reader.format). Nothing "
                + "was changed. Roll forward to the numberd that wrote it (or a later one), or restore a backup "
                + "taken before the upgrade",
            file: path)
    }

    /// Records what the store holds once `writer` opened it — `writer` merged with `found` (a store from before the
    /// file being format 1) — unless `FORMAT` already says so: written to `FORMAT.tmp`, `fdatasync`ed, renamed over
    /// `FORMAT`, and the directory synced, so a crash at any point leaves the old `FORMAT` (or none) or the new one.
    /// Throws `io` if it cannot.
    package func record(_ writer: StoreFormat, found: StoreFormat?, logger: Logger) throws {
        let target = writer.merged(with: found ?? .legacy)
        guard target != found else { return }
        logger.notice(
            "journal recording the store format",
            metadata: ["format": "\(target)", "found": "\(found.map { "\($0)" } ?? "no FORMAT file")"])
        let temp = layout.path(JournalLayout.formatTempName)
        do {
            let handle = try fileSystem.open(temp, mode: .createTruncate)
            do {
                try fileSystem.write(handle, Self.encode(target))
                try fileSystem.fdatasync(handle)
            } catch {
                fileSystem.close(handle)
                throw error
            }
            fileSystem.close(handle)
            try fileSystem.rename(temp, to: path)
            try fileSystem.fsyncDirectory(layout.directory)
        } catch {
            // Best effort: a temp file left behind is removed by the next open.
            try? fileSystem.remove(temp)
            throw JournalError(.io, "cannot record the store's \(target): \(error)", file: path)
        }
    }

    /// The file's bytes: `{"format":F,"readers":R}` and a newline.
    package static func encode(_ format: StoreFormat) -> [UInt8] {
        Array(#"{"format":\#(format.format),"readers":\#(format.readers)}"#.utf8) + [UInt8(ascii: "\n")]
    }

    /// Why a file's bytes are not a format.
    package struct Reason: Error, Sendable {
        /// What is wrong, for people.
        package let text: String
    }

    /// The format in a file's bytes: a JSON object with integer `format` and `readers`, 1 ≤ readers ≤ format (other
    /// members are ignored: a later format may add some).
    package static func decode(_ bytes: [UInt8]) -> Result<StoreFormat, Reason> {
        struct Fields: Decodable {
            var format: Int
            var readers: Int
        }
        let fields: Fields
        do {
            fields = try JSONDecoder().decode(Fields.self, from: Data(bytes))
        } catch {
            let shown = String(decoding: bytes.prefix(64), as: UTF8.self).debugDescription
            return .failure(Reason(text: "it does not hold {\"format\":N,\"readers\":N} but \(shown)"))
        }
        guard let format = StoreFormat(validating: fields.format, readers: fields.readers) else {
            return .failure(
                Reason(
                    text: "it names format \(fields.format) with readers \(fields.readers): needs 1 ≤ readers ≤ format")
            )
        }
        return .success(format)
    }

    private func damaged(_ reason: String) -> JournalError {
        JournalError(
            .formatDamaged,
            "the store's FORMAT file is damaged: \(reason). Which numberd may open this store is unknown, so it is not "
                + "opened on a guess; nothing was changed. Restore the whole store from a backup — a FORMAT alone "
                + "from an older backup may name older readers than the files need (numberd verify warns: "
                + "formatBehindContent) — or, if this numberd wrote the files, write "
                + String(decoding: Self.encode(StoreFormat.current).dropLast(), as: UTF8.self) + " into it",
            file: path)
    }
}
