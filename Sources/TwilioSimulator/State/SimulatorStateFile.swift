import Foundation

/// What the simulated Twilio account owns, kept in one JSON file so that it outlives the process the way a real
/// account does: owned numbers (with everything set on them), trunks, their creation order and the SID generator's
/// position. Without it a restarted simulator would offer numbers a client already owns, forget trunks the client
/// routes to and answer 404 to the release of a number it sold.
///
/// The file is rewritten whole after every request that changed the account, before the response leaves (temporary
/// file, `fsync`, `rename`, directory `fsync`): an answered request is on disk. Not kept: the request log, the
/// purchase/release counters (they count from the process's start) and the creation order of released numbers, so a
/// page token anchored at a number released before the restart is refused (21481) like any unknown token.
public struct SimulatorStateFile: Sendable {
    /// The file's path.
    public let path: String

    /// Creates the description of the file at `path` (nothing is touched).
    public init(path: String) { self.path = path }

    /// The format written; a file of another version is refused.
    static let version = 1

    struct Contents: Codable, Equatable {
        var version: Int
        /// The inventory seed the numbers were bought from.
        var seed: UInt64
        /// `SeededGenerator.state` of the SID generator.
        var sidGenerator: UInt64
        /// The last creation sequence issued.
        var sequence: Int
        var numbers: [Entry<IncomingNumber>]
        var trunks: [Entry<Trunk>]
    }

    struct Entry<Value: Codable & Equatable>: Codable, Equatable {
        /// Creation order (page tokens).
        var sequence: Int
        var value: Value
    }

    /// The saved contents, or nil when there is no file yet. Throws when the file cannot be read, does not decode,
    /// has another version, or was written for another inventory seed.
    func load(seed: UInt64) throws -> Contents? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let contents: Contents
        do {
            contents = try JSONDecoder().decode(Contents.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw StateFileError("cannot read the simulator state file \(path): \(error)")
        }
        guard contents.version == Self.version else {
            throw StateFileError(
                "the simulator state file \(path) has version \(contents.version), not \(Self.version)")
        }
        guard contents.seed == seed else {
            throw StateFileError(
                "the simulator state file \(path) was written with seed \(contents.seed), not \(seed): start with that"
                    + " seed, or move the file away to start with an empty account")
        }
        return contents
    }

    /// Writes `contents` durably in place of the file. An error with `committed` set came after the rename: the file
    /// holds the new contents, but the folder entry may not be on disk.
    func save(_ contents: Contents) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(contents)
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw StateFileError("cannot create \(temporary): errno \(errno)") }
        // The errno of the failing call, 0 when every byte was written and synced.
        let failure = data.withUnsafeBytes { bytes -> Int32 in
            var offset = 0
            while offset < bytes.count {
                let count = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { return count == 0 ? EIO : errno }
                offset += count
            }
            return fsync(descriptor) == 0 ? 0 : errno
        }
        close(descriptor)
        guard failure == 0 else { throw StateFileError("cannot write \(temporary): errno \(failure)") }
        guard rename(temporary, path) == 0 else { throw StateFileError("cannot rename \(temporary): errno \(errno)") }
        let folder = (path as NSString).deletingLastPathComponent.nonEmpty ?? "."
        let directory = open(folder, O_RDONLY | O_CLOEXEC)
        guard directory >= 0 else {
            throw StateFileError("cannot open \(folder) to sync it: errno \(errno)", committed: true)
        }
        defer { close(directory) }
        guard fsync(directory) == 0 else {
            throw StateFileError("cannot sync the folder of \(path): errno \(errno)", committed: true)
        }
    }
}

/// The state file could not be read or written.
public struct StateFileError: Error, CustomStringConvertible {
    /// What went wrong, with the path.
    public let description: String
    /// The new contents replaced the file before the failure (only the folder's sync failed).
    public let committed: Bool

    init(_ description: String, committed: Bool = false) {
        self.description = description
        self.committed = committed
    }
}

extension String {
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}
