import Foundation
import NumberCore
import NumberDaemon
import Testing

/// After every start `admin.key` holds a working admin key: a new one is made and written in place of the file
/// when the file's key was revoked or the file is gone, and nothing is made while it works.
@Suite struct AdminKeyFileTests {
    /// Prepares numberd on `directory` (not serving), runs `body` with it, then closes it.
    private static func withPrepared<T>(
        _ directory: String, _ body: (Numberd) async throws -> T
    ) async throws -> T {
        var configuration = NumberdConfiguration(dataDirectory: directory)
        configuration.listen.port = 0
        configuration.metricsListen = nil
        let numberd = try await Numberd.prepare(configuration, logger: quietLogger)
        do {
            let result = try await body(numberd)
            await numberd.close()
            return result
        } catch {
            await numberd.close()
            throw error
        }
    }

    private static func fileKey(_ numberd: Numberd) throws -> String {
        try String(contentsOfFile: numberd.dataDirectory.adminKeyFile, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func aRevokedOrMissingAdminKeyFileIsReplacedByAWorkingOne() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-adminkey-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let first = try await Self.withPrepared(directory) { numberd in
            let created = try #require(numberd.createdAdminKey)
            #expect(try Self.fileKey(numberd) == created)
            // Every admin key revoked: only the file's, here.
            let key = try numberd.service.authenticate(secret: created)
            _ = try await numberd.service.revokeApiKey(keyId: key.id)
            return created
        }
        let second = try await Self.withPrepared(directory) { numberd in
            let created = try #require(numberd.createdAdminKey, "a start with no working admin key makes one")
            #expect(created != first)
            #expect(try Self.fileKey(numberd) == created, "written in place of the revoked one")
            #expect(try numberd.service.authenticate(secret: Self.fileKey(numberd)).scope == .admin)
            #expect(!FileManager.default.fileExists(atPath: numberd.dataDirectory.adminKeyFile + ".tmp"))
            let mode =
                try FileManager.default.attributesOfItem(atPath: numberd.dataDirectory.adminKeyFile)[
                    .posixPermissions] as? Int
            #expect(mode == 0o600)
            return created
        }
        try await Self.withPrepared(directory) { numberd in
            #expect(numberd.createdAdminKey == nil, "the file's key works: nothing is made")
            #expect(try Self.fileKey(numberd) == second)
            try FileManager.default.removeItem(atPath: numberd.dataDirectory.adminKeyFile)
        }
        try await Self.withPrepared(directory) { numberd in
            let created = try #require(numberd.createdAdminKey, "a removed file is written again with a new key")
            #expect(try Self.fileKey(numberd) == created)
            // The earlier admin key stays valid: nothing else is revoked.
            #expect(try numberd.service.authenticate(secret: second).scope == .admin)
        }
    }
}
