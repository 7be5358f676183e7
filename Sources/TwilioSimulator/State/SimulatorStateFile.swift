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

    /// Writes `contents` durably in place of the file.
    func save(_ contents: Contents) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(contents)
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw StateFileError("cannot create \(temporary): errno \(errno)") }
        let written = data.withUnsafeBytes { bytes -> Bool in
            var offset = 0
            while offset < bytes.count {
                let count = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { return false }
                offset += count
            }
            return true
        }
        let synced = written && fsync(descriptor) == 0
        let failure = errno
        close(descriptor)
        guard synced else { throw StateFileError("cannot write \(temporary): errno \(failure)") }
        guard rename(temporary, path) == 0 else { throw StateFileError("cannot rename \(temporary): errno \(errno)") }
        let directory = open((path as NSString).deletingLastPathComponent.nonEmpty ?? ".", O_RDONLY | O_CLOEXEC)
        if directory >= 0 {
            defer { close(directory) }
            guard fsync(directory) == 0 else { throw StateFileError("cannot sync the folder of \(path)") }
        }
    }
}

/// The state file could not be read or written.
public struct StateFileError: Error, CustomStringConvertible {
    /// What went wrong, with the path.
    public let description: String

    init(_ description: String) { self.description = description }
}

extension String {
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}
