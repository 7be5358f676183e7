import Foundation
import NumberCore
import Testing
import TwilioSimulator

@testable import NumberDaemon

/// What `Numberd.prepare` guarantees about the data directory: after every start `admin.key` holds a working admin
/// key (a new one is made and written in place of the file when its key was revoked or the file is gone, nothing
/// while it works), and a second numberd on a directory in use stops at the store's lock before it touches anything.
@Suite struct StartUpTests {
    /// Prepares numberd on `directory` (not serving), runs `body` with it, then closes it.
    private static func withPrepared<T>(
        _ directory: String, snapshotBytesMax: Int? = nil, _ body: (Numberd) async throws -> T
    ) async throws -> T {
        var configuration = NumberdConfiguration(dataDirectory: directory)
        if let snapshotBytesMax { configuration.snapshotBytesMax = snapshotBytesMax }
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

    /// Revoked keys do not count toward `apiKeysMax`: a start whose `admin.key` was revoked makes a new admin key
    /// even when the keys made so far, revoked ones included, fill the cap. Before, `prepare` threw
    /// `RESOURCE_EXHAUSTED` there and numberd could not start on that directory again.
    @Test func anAdminKeyIsMadeAtStartEvenWhenRevokedKeysFillTheKeyCap() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-keycap-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = DataDirectory(root: root)
        try directory.prepare()
        var config = NumberServiceConfig.defaults
        config.limits.apiKeysMax = 2
        let service = try await NumberService.open(
            store: InMemoryNumberStore(), provider: NoProvider(), config: config, logger: quietLogger)
        let first = try await service.createApiKey(name: "bootstrap admin", scope: .admin, accountId: nil)
        try directory.writeAdminKey(first.secret)
        _ = try await service.createApiKey(name: "ops", scope: .admin, accountId: nil)
        _ = try await service.revokeApiKey(keyId: first.key.id)
        // The cap (2) is full, one of the two revoked; the file's key no longer works.
        let created = try await Numberd.bootstrapAdminKey(service, directory, logger: quietLogger)
        let secret = try #require(created, "a start with no working admin key makes one")
        #expect(directory.readAdminKey() == secret)
        #expect(try service.authenticate(secret: secret).scope == .admin)
    }

    /// A provider for a core that is never asked for numbers.
    private struct NoProvider: NumberProvider {
        private var refusal: ProviderError { ProviderError(.invalidArgument, message: "no provider in this test") }
        func search(_ query: ProviderSearchQuery) async throws -> [NumberCore.AvailableNumber] { throw refusal }
        func price(country: String, type: NumberCore.NumberType) async throws -> ProviderPrice { throw refusal }
        func buy(phoneNumber: String, trunkSid: String?) async throws -> ProvisionedNumber { throw refusal }
        func release(sid: String) async throws { throw refusal }
        func setTrunk(sid: String, trunkSid: String?) async throws { throw refusal }
        func lookUp(phoneNumber: String) async throws -> ProvisionedNumber? { throw refusal }
    }

    @Test func aSecondNumberdOnTheSameDirectoryStopsBeforeTouchingTheSimulatorsFiles() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-lock-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await Self.withPrepared(directory) { running in
            // One change at the simulator: its snapshot and a journal line are on disk.
            let simulator = try #require(running.simulator)
            let credentials = simulator.credentials
            let token = Data("\(credentials.accountSid):\(credentials.authToken)".utf8).base64EncodedString()
            let request = SimulatorRequest(
                method: "POST", target: "/v1/Trunks",
                headers: [("Authorization", "Basic \(token)"), ("Content-Type", "application/x-www-form-urlencoded")],
                body: Array("FriendlyName=kept".utf8))
            guard case .respond(let response) = simulator.engine.handle(request) else {
                Issue.record("no answer")
                return
            }
            #expect(response.status == 201)
            let files = [directory + "/twilio-sim.json", directory + "/twilio-sim.json.journal"]
            let before = try files.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
            #expect(!before[1].isEmpty, "the change is a journal line")
            await #expect(throws: JournalError.self) {
                try await Self.withPrepared(directory) { _ in }
            }
            let after = try files.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
            #expect(after == before, "the second start compacted the running simulator's journal")
        }
    }

    @Test func aStateLargerThanTheSnapshotLimitStillStartsFromTheJournal() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-big-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let limit = 8_192
        let accounts = try await Self.withPrepared(directory, snapshotBytesMax: limit) { numberd in
            var ids: [String] = []
            for index in 0..<200 {
                ids.append(try await numberd.service.createAccount(name: "a\(index)", currency: "USD").id)
            }
            return ids
        }
        // The state's snapshot no longer fits: the start-up snapshot fails, and numberd starts from the journal.
        try await Self.withPrepared(directory, snapshotBytesMax: limit) { numberd in
            for id in accounts {
                let account = try numberd.service.account(id)
                #expect(account.id == id)
            }
        }
    }
}
