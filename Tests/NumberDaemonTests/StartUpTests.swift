import Foundation
import Logging
import NumberCore
import Prometheus
import TestSupport
import Testing
import TwilioSimulator

@testable import NumberDaemon

/// What `Numberd.prepare` guarantees about the data directory: after every start `admin.key` holds a working admin
/// key (a new one is made and written in place of the file when its key was revoked or the file is gone, nothing
/// while it works), and a second numberd on a directory in use stops at the store's lock before it touches anything.
@Suite struct StartUpTests {
    /// Prepares numberd on `directory` (not serving), runs `body` with it, then closes it.
    private static func withPrepared<T>(
        _ directory: String, snapshotBytesMax: Int? = nil,
        configure: (inout NumberdConfiguration) throws -> Void = { _ in }, _ body: (Numberd) async throws -> T
    ) async throws -> T {
        var configuration = NumberdConfiguration(dataDirectory: directory)
        if let snapshotBytesMax { configuration.snapshotBytesMax = snapshotBytesMax }
        try configure(&configuration)
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

    /// One change at the in-process simulator (a trunk): its snapshot and a journal line are on disk.
    private static func changeAtTheSimulator(_ running: Numberd) throws {
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
    }

    @Test func aRevokedOrMissingAdminKeyFileIsReplacedByAWorkingOne() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-adminkey-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let first = try await Self.withPrepared(directory) { numberd in
            let created = try #require(numberd.createdAdminKey?.secret)
            #expect(try Self.fileKey(numberd) == created)
            // Every admin key revoked: only the file's, here.
            let key = try numberd.service.authenticate(secret: created)
            _ = try await numberd.service.revokeApiKey(keyId: key.id, leavingNoAdminKey: true)
            return created
        }
        let second = try await Self.withPrepared(directory) { numberd in
            let created = try #require(numberd.createdAdminKey?.secret, "a start with no working admin key makes one")
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
            let created = try #require(
                numberd.createdAdminKey?.secret, "a removed file is written again with a new key")
            #expect(try Self.fileKey(numberd) == created)
            // The earlier admin key stays valid: nothing else is revoked.
            #expect(try numberd.service.authenticate(secret: second).scope == .admin)
        }
    }

    /// Found probing numberd's start: a data directory that is a file, lies under one, or cannot be written gave
    /// Foundation's raw error ("Error Domain=NSCocoaErrorDomain Code=516 …"), naming no setting. Each names the data
    /// directory, the folder that could not be made, and the system's reason.
    @Test func aDataDirectoryThatCannotBeMadeIsNamedWithTheReason() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-baddir-\(UUID())").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let file = base + "/afile"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        for root in [file, file + "/sub"] {
            do {
                try DataDirectory(root: root).prepare()
                Issue.record("\(root) was prepared")
            } catch let error as ConfigurationError {
                #expect(error.description.contains("the data directory \(root) (--data-dir"), "\(error)")
                #expect(error.description.contains("\(file) exists and is not a directory"), "\(error)")
                #expect(!error.description.contains("NSCocoaErrorDomain"), "\(error)")
            }
        }
        // A folder mkdir refuses (the tests run as root, which permissions do not stop): the system's words.
        let long = base + "/" + String(repeating: "n", count: 300)
        do {
            try DataDirectory(root: long).prepare()
            Issue.record("\(long) was prepared")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("\(long) cannot be created (File name too long)"), "\(error)")
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
        let secret = try #require(created?.secret, "a start with no working admin key makes one")
        #expect(directory.readAdminKey() == secret)
        #expect(try service.authenticate(secret: secret).scope == .admin)
    }

    /// At `apiKeysMax` keys that all work, a start whose `admin.key` is gone, or holds a key an operator revoked when
    /// rotating it, still makes an admin key, past the limit. Before, the start failed RESOURCE_EXHAUSTED ("revoke one
    /// to make room", which takes the working admin key nobody had) at every restart, each writing a new secret to
    /// `admin.key` that opened nothing. The API's keys still stop at the limit.
    @Test func anAdminKeyIsMadeAtStartEvenWhenWorkingKeysFillTheKeyCap() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-keycapfull-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = DataDirectory(root: root)
        try directory.prepare()
        var config = NumberServiceConfig.defaults
        config.limits.apiKeysMax = 2
        let service = try await NumberService.open(
            store: InMemoryNumberStore(), provider: NoProvider(), config: config, logger: quietLogger)
        let account = try await service.createAccount(name: "a", currency: "USD")
        _ = try await service.createApiKey(name: "ops", scope: .admin, accountId: nil)
        _ = try await service.createApiKey(name: "svc", scope: .account, accountId: account.id)
        // The cap (2) is full of working keys, and there is no admin.key.
        #expect(directory.readAdminKey() == nil)
        let created = try await Numberd.bootstrapAdminKey(service, directory, logger: quietLogger)
        let secret = try #require(created?.secret, "a start with no working admin key in admin.key makes one")
        #expect(directory.readAdminKey() == secret)
        let key = try service.authenticate(secret: secret)
        #expect(key.scope == .admin)
        let refused = await #expect(throws: NumberError.self) {
            _ = try await service.createApiKey(name: "more", scope: .admin, accountId: nil)
        }
        #expect(refused?.code == .resourceExhausted && refused?.details["max"] == "2")
        // The file's key works: nothing is made.
        let again = try await Numberd.bootstrapAdminKey(service, directory, logger: quietLogger)
        #expect(again == nil)
        // Rotated: the file's key revoked (with "ops" still working), the two others fill the cap again.
        _ = try await service.revokeApiKey(keyId: key.id)
        let rotated = try await Numberd.bootstrapAdminKey(service, directory, logger: quietLogger)
        let replacement = try #require(rotated?.secret, "a start whose admin.key was revoked makes a new one")
        #expect(directory.readAdminKey() == replacement)
        #expect(try service.authenticate(secret: replacement).scope == .admin)
    }

    /// The admin key a start makes was logged at info ("created an admin key"), not as the `admin: API key created`
    /// notice every key made through the API gets: under `--log-level notice` a new admin key appeared without a
    /// word. It is now that notice, with the start as its actor, the key, why it was made and the file that holds it.
    @Test("an admin key a start makes is an admin: notice naming the start, the key and the file, even at notice level")
    func aStartsAdminKeyIsAnAuditNotice() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-keyaudit-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = DataDirectory(root: root)
        try directory.prepare()
        let service = try await NumberService.open(
            store: InMemoryNumberStore(), provider: NoProvider(), logger: quietLogger)
        let lines = CapturingLogHandler.Lines()
        var logger = Logger(label: "t") { _ in CapturingLogHandler(lines: lines) }
        logger.logLevel = .notice
        func audited(_ created: CreatedAdminKey, reason: String) throws {
            let found = lines.all.filter { $0.message == "admin: API key created" && $0.metadata["key"] == created.id }
            #expect(found.count == 1, "\(lines.all)")
            let line = try #require(found.first)
            #expect(line.level == .notice)
            #expect(line.metadata["actor"] == "start" && line.metadata["scope"] == "admin", "\(line)")
            #expect(line.metadata["reason"] == reason, "\(line)")
            #expect(line.metadata["file"]?.hasSuffix("/admin.key") == true, "\(line)")
            let secret = created.secret
            #expect(
                !lines.all.contains { logged in
                    logged.message.contains(secret) || logged.metadata.values.contains { $0.contains(secret) }
                }, "the secret was logged")
        }
        // No admin.key: the first start.
        let made = try await Numberd.bootstrapAdminKey(service, directory, logger: logger)
        let first = try #require(made, "a start without admin.key makes an admin key")
        try audited(first, reason: "ADMIN_KEY_FILE_MISSING")
        // Its key revoked: replaced.
        _ = try await service.revokeApiKey(keyId: first.id, leavingNoAdminKey: true)
        let remade = try await Numberd.bootstrapAdminKey(service, directory, logger: logger)
        let replaced = try #require(remade, "a start whose admin key was revoked makes one")
        try audited(replaced, reason: "ADMIN_KEY_NOT_WORKING")
        // The file's key works: nothing made, nothing logged.
        let count = lines.all.count
        let again = try await Numberd.bootstrapAdminKey(service, directory, logger: logger)
        #expect(again == nil)
        #expect(lines.all.count == count, "\(lines.all)")
    }

    /// A start whose admin key cannot be saved (here a folder stands where `admin.key` goes: the tests run as root,
    /// which writes any mode) leaves no key behind. The key used to be recorded before its file was written, so each
    /// such start — every turn of a supervisor's restart loop — added an active admin key whose secret nobody had,
    /// each counting toward `apiKeysMax`.
    @Test func aStartThatCannotSaveItsAdminKeyLeavesNoActiveKey() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-keyfail-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keyFile = DataDirectory(root: directory).adminKeyFile
        func activeAdminKeys(_ numberd: Numberd) -> [String] {
            numberd.service.durableState().apiKeys.values.filter { $0.scope == .admin && $0.revokedAt == nil }.map(\.id)
        }
        // The first start's key revoked: the next starts must each make one.
        try await Self.withPrepared(directory) { numberd in
            _ = try await numberd.service.revokeApiKey(
                keyId: try #require(numberd.createdAdminKey?.id), leavingNoAdminKey: true)
            #expect(activeAdminKeys(numberd).isEmpty)
        }
        try FileManager.default.removeItem(atPath: keyFile)
        try FileManager.default.createDirectory(atPath: keyFile, withIntermediateDirectories: false)
        for attempt in 0..<3 {
            do {
                try await Self.withPrepared(directory) { _ in }
                Issue.record("attempt \(attempt): started without saving its admin key")
            } catch let error as ConfigurationError {
                #expect(error.description.contains("admin.key"), "\(error)")
            }
        }
        try FileManager.default.removeItem(atPath: keyFile)
        try await Self.withPrepared(directory) { numberd in
            let created = try #require(numberd.createdAdminKey)
            #expect(activeAdminKeys(numberd) == [created.id], "the failed starts left keys nobody holds")
            #expect(try Self.fileKey(numberd) == created.secret)
        }
        // A crash after the file was written and before the key was recorded leaves a secret that opens nothing: the
        // next start replaces it, and still one admin key works.
        try await Self.withPrepared(directory) { numberd in
            _ = try await numberd.service.revokeApiKey(
                keyId: try numberd.service.authenticate(secret: Self.fileKey(numberd)).id, leavingNoAdminKey: true)
            try numberd.dataDirectory.writeAdminKey(numberd.service.drawApiKey().secret)
        }
        try await Self.withPrepared(directory) { numberd in
            let created = try #require(numberd.createdAdminKey, "the unrecorded key was taken for a working one")
            #expect(activeAdminKeys(numberd) == [created.id])
        }
    }

    /// Where a start can fail after it opened the simulator (and the store, and the listeners): the core refusing its
    /// configuration, the RPC port taken, the metrics port taken.
    enum LateFailure: String, CaseIterable, Sendable {
        case serviceConfiguration, rpcPortTaken, metricsPortTaken
    }

    /// A start that fails late closes what it opened: before, a failure of `NumberService.open` or of the admin key's
    /// bootstrap left the store open (its lock held, so the next start in the process failed) and the simulator
    /// listening, and a provider that could not be made after the simulator started left the simulator open.
    @Test(arguments: LateFailure.allCases)
    func aStartThatFailsLateClosesWhatItOpened(failure: LateFailure) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-late-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await Self.withPrepared(directory) { _ in }  // a first start: the TLS files and the admin key
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "t") { _ in CapturingLogHandler(lines: lines) }
        var configuration = NumberdConfiguration(dataDirectory: directory)
        configuration.listen = .init(host: "127.0.0.1", port: try freeLoopbackPort())
        configuration.metricsListen = .init(host: "127.0.0.1", port: try freeLoopbackPort())
        var held: HeldPort?
        switch failure {
        case .serviceConfiguration: configuration.gracePeriodSeconds = -1
        case .rpcPortTaken: held = try HeldPort(port: configuration.listen.port)
        case .metricsPortTaken: held = try HeldPort(port: configuration.metricsListen!.port)
        }
        do {
            let numberd = try await Numberd.prepare(
                configuration, logger: logger, metrics: PrometheusCollectorRegistry())
            await numberd.close()
            Issue.record("the start did not fail")
        } catch let error as ConfigurationError {
            #expect(failure != .serviceConfiguration, "\(error)")
            let flag = failure == .rpcPortTaken ? "--listen" : "--metrics-listen"
            #expect(error.description.contains("(\(flag))"), "\(error)")
        } catch let error as NumberError {
            #expect(failure == .serviceConfiguration, "\(error)")
        }
        held?.close()
        let simulatorURL = lines.all.first { $0.message.contains("in-process Twilio simulator") }?.metadata["url"]
        let simulatorPort = try #require(simulatorURL.flatMap { URL(string: $0)?.port }, "\(lines.all)")
        #expect(!acceptsConnections(port: simulatorPort), "the simulator still listens")
        if failure == .metricsPortTaken {
            #expect(!acceptsConnections(port: configuration.listen.port), "the RPC listener is still open")
        }
        // The lock, the listeners' ports and the simulator's files are free: the same start succeeds in the process.
        configuration.gracePeriodSeconds = 604_800
        let numberd = try await Numberd.prepare(
            configuration, logger: quietLogger, metrics: PrometheusCollectorRegistry())
        let port = try await numberd.server.listeningAddress().port
        await numberd.close()
        #expect(port == configuration.listen.port)
    }

    @Test func aSecondNumberdOnTheSameDirectoryStopsBeforeTouchingTheSimulatorsFiles() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-lock-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await Self.withPrepared(directory) { running in
            try Self.changeAtTheSimulator(running)
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

    /// A data directory's numbers are owned at one provider account. Before `provider.json`, a restart whose Twilio
    /// credentials were lost from the environment fell back to the in-process simulator on the production directory:
    /// reconciliation and releases then found nothing there, refunded releases whose numbers stayed paid at Twilio,
    /// and voided open purchases. Such a start is now refused, naming both accounts, before anything is touched.
    @Test func aDirectoryBoundToAnotherProviderAccountIsNotStarted() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-bind-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let bindingFile = directory + "/provider.json"
        let formatFile = directory + "/store/FORMAT"
        let legacyFile = directory + "/provider.legacy"
        let binding = {
            try JSONDecoder().decode(ProviderBinding.self, from: Data(contentsOf: URL(fileURLWithPath: bindingFile)))
        }
        let simulatorAccount = SimulatorCredentials.generated(seed: 1).accountSid
        let twilioAccount = "AC" + String(repeating: "5", count: 32)
        let twilio = try TwilioCredentials.authToken(accountSid: twilioAccount, authToken: "token")

        // Nothing at the provider yet: the directory follows the configured account without a word (a first start
        // with a mistyped account needs no --rebind-provider).
        try await Self.withPrepared(directory, configure: { $0.provider = .twilio(twilio) }) { _ in }
        #expect(try binding().kind == .twilio)
        try await Self.withPrepared(directory) { running in
            try Self.changeAtTheSimulator(running)
            let account = try await running.service.createAccount(name: "Acme", currency: "USD")
            _ = try await running.service.createTrunk(
                accountId: account.id, name: "t", providerTrunkSid: "", originationSipUri: "sip:pbx.example.com")
        }
        #expect(try binding() == ProviderBinding(.simulator(seed: 1)))
        try await Self.withPrepared(directory) { _ in }  // the same provider starts again

        // It holds a trunk now: another account is refused, naming both, and nothing is touched.
        let files = [bindingFile, directory + "/twilio-sim.json", directory + "/twilio-sim.json.journal"]
        let before = try files.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        let refusals: [(String, (inout NumberdConfiguration) -> Void)] = [
            ("Twilio credentials", { $0.provider = .twilio(twilio) }),
            ("another simulator seed", { $0.provider = .simulator(seed: 2) }),
        ]
        for (name, configure) in refusals {
            do {
                try await Self.withPrepared(directory, configure: configure) { _ in }
                Issue.record("\(name): started on a directory bound to another account")
            } catch let error as ConfigurationError {
                #expect(error.description.contains(simulatorAccount), "\(error)")
                // Another seed is told to start with the directory's seed, not pointed at Twilio's credentials or at
                // --rebind-provider (an operator's walk), which would strand its numbers at an account none serves.
                let seed = name == "another simulator seed"
                #expect(error.description.contains("--rebind-provider") != seed, "\(error)")
                #expect(
                    error.description.contains("Start with the seed the directory was started with") == seed, "\(error)"
                )
            }
        }
        let after = try files.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        #expect(after == before, "a refused start touched the binding or the simulator's files")

        // A directory from before provider.json (and so before store/FORMAT, which came later) that holds what the
        // simulator sold: Twilio is refused, the simulator binds it.
        try FileManager.default.removeItem(atPath: bindingFile)
        try FileManager.default.removeItem(atPath: formatFile)
        await #expect(throws: ConfigurationError.self) {
            try await Self.withPrepared(directory, configure: { $0.provider = .twilio(twilio) }) { _ in }
        }
        #expect(!FileManager.default.fileExists(atPath: bindingFile))
        // That refused start's open recorded a FORMAT (the store is opened before the binding is checked), and the
        // directory still reads as one from before provider.json (provider.legacy), not as one whose binding was lost.
        #expect(FileManager.default.fileExists(atPath: formatFile))
        #expect(FileManager.default.fileExists(atPath: legacyFile))
        try await Self.withPrepared(directory) { _ in }
        #expect(try binding() == ProviderBinding(.simulator(seed: 1)))
        #expect(!FileManager.default.fileExists(atPath: legacyFile), "the marker outlived the binding")

        // The operator moved the numbers: one start with --rebind-provider binds the directory anew.
        try await Self.withPrepared(
            directory,
            configure: {
                $0.provider = .twilio(twilio)
                $0.rebindProvider = true
            }
        ) { _ in }
        #expect(try binding() == ProviderBinding(.twilio(twilio)))
        await #expect(throws: ConfigurationError.self) { try await Self.withPrepared(directory) { _ in } }

        // A damaged binding is not taken for "unbound".
        try Data("{".utf8).write(to: URL(fileURLWithPath: bindingFile))
        await #expect(throws: ConfigurationError.self) {
            try await Self.withPrepared(directory, configure: { $0.provider = .twilio(twilio) }) { _ in }
        }

        // Nor is one that cannot be read at all (here a folder in its place: reading it fails as EACCES or EIO
        // would; the tests run as root, which reads any mode). It used to be taken for missing and bound afresh.
        try FileManager.default.removeItem(atPath: bindingFile)
        try FileManager.default.createDirectory(atPath: bindingFile, withIntermediateDirectories: false)
        do {
            try await Self.withPrepared(directory, configure: { $0.provider = .simulator(seed: 2) }) { _ in }
            Issue.record("an unreadable provider.json was taken for a directory from before it")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("unreadable"), "\(error)")
        }

        // A directory from before provider.json that holds a trunk but never ran the simulator: the simulator is
        // refused (its numbers are at Twilio).
        try FileManager.default.removeItem(atPath: bindingFile)
        try FileManager.default.removeItem(atPath: formatFile)
        for file in files.dropFirst() { try FileManager.default.removeItem(atPath: file) }
        await #expect(throws: ConfigurationError.self) { try await Self.withPrepared(directory) { _ in } }
        try await Self.withPrepared(directory, configure: { $0.provider = .twilio(twilio) }) { _ in }
        #expect(try binding() == ProviderBinding(.twilio(twilio)))
    }

    /// A start on a directory from before provider.json writes FORMAT when it opens the store, before the binding is
    /// checked. One refused in between (here the other provider configured) left a store that read as one whose
    /// binding was lost: the corrected start was refused too, pointed at --rebind-provider, which skips the check that
    /// tells the simulator's directory from a Twilio one.
    @Test func aDirectoryFromBeforeTheBindingIsBoundAfterARefusedStart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-legacy-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let bindingFile = directory + "/provider.json"
        let formatFile = directory + "/store/FORMAT"
        let legacyFile = directory + "/provider.legacy"
        // A trunk at "Twilio": a simulator over HTTPS, as Twilio is reached (a trunk is made there or checked there).
        let simulatorDirectory = directory + "-twilio"
        defer { try? FileManager.default.removeItem(atPath: simulatorDirectory) }
        let simulator = try await startExternalSimulator(directory: simulatorDirectory)
        let twilio = try TwilioCredentials.authToken(
            accountSid: simulator.credentials.accountSid, authToken: simulator.credentials.authToken)
        do {
            try await Self.withPrepared(
                directory,
                configure: {
                    $0.provider = .twilio(twilio)
                    $0.twilioBaseURL = simulator.baseURL
                    $0.twilioCAFile = simulator.caPEMPath
                }
            ) { running in
                let account = try await running.service.createAccount(name: "Acme", currency: "USD")
                _ = try await running.service.createTrunk(
                    accountId: account.id, name: "t", providerTrunkSid: "", originationSipUri: "sip:pbx.example.com")
            }
        } catch {
            try? await simulator.shutdown()
            throw error
        }
        try await simulator.shutdown()
        // As a numberd from before provider.json and FORMAT left it: a store holding a trunk at Twilio.
        try FileManager.default.removeItem(atPath: bindingFile)
        try FileManager.default.removeItem(atPath: formatFile)
        #expect(!FileManager.default.fileExists(atPath: directory + "/twilio-sim.json"))
        do {
            try await Self.withPrepared(directory) { _ in }
            Issue.record("the simulator was bound to a directory whose trunk is at Twilio")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("bought through Twilio"), "\(error)")
        }
        #expect(FileManager.default.fileExists(atPath: formatFile), "the refused start's open wrote no FORMAT")
        #expect(FileManager.default.fileExists(atPath: legacyFile))
        #expect(!FileManager.default.fileExists(atPath: bindingFile))
        // The operator configures Twilio again: bound, without --rebind-provider.
        try await Self.withPrepared(directory, configure: { $0.provider = .twilio(twilio) }) { _ in }
        #expect(
            try JSONDecoder().decode(ProviderBinding.self, from: Data(contentsOf: URL(fileURLWithPath: bindingFile)))
                == ProviderBinding(.twilio(twilio)))
        #expect(!FileManager.default.fileExists(atPath: legacyFile), "the marker outlived the binding")
        // From here a missing provider.json was lost, as beside any store with FORMAT.
        try FileManager.default.removeItem(atPath: bindingFile)
        do {
            try await Self.withPrepared(directory, configure: { $0.provider = .twilio(twilio) }) { _ in }
            Issue.record("a directory that lost its provider.json was bound to the configured account")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("provider.json is missing"), "\(error)")
        }
    }

    /// A `provider.json` lost from a directory whose store has `FORMAT` (which every numberd that writes it keeps
    /// beside the binding) was taken for a directory from before the file, and bound silently to whatever account was
    /// configured: its numbers were then looked up, released and refunded at that account.
    @Test func aLostBindingBesideAFormattedStoreIsNotReboundSilently() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-lost-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let bindingFile = directory + "/provider.json"
        try await Self.withPrepared(directory) { running in
            try Self.changeAtTheSimulator(running)
            let account = try await running.service.createAccount(name: "Acme", currency: "USD")
            _ = try await running.service.createTrunk(
                accountId: account.id, name: "t", providerTrunkSid: "", originationSipUri: "sip:pbx.example.com")
        }
        #expect(FileManager.default.fileExists(atPath: directory + "/store/FORMAT"))
        try FileManager.default.removeItem(atPath: bindingFile)
        let twilio = try TwilioCredentials.authToken(
            accountSid: "AC" + String(repeating: "5", count: 32), authToken: "token")
        // Another simulator account, Twilio, even the simulator account it was run with (nothing says which it was):
        // refused, naming the way out. Before, both simulator accounts were bound, as the simulator's files are there.
        let configurations: [(inout NumberdConfiguration) -> Void] = [
            { $0.provider = .simulator(seed: 2) }, { $0.provider = .twilio(twilio) }, { _ in },
        ]
        for configure in configurations {
            do {
                try await Self.withPrepared(directory, configure: configure) { _ in }
                Issue.record("a directory that lost its provider.json was bound to the configured account")
            } catch let error as ConfigurationError {
                #expect(error.description.contains("--rebind-provider"), "\(error)")
                #expect(error.description.contains("provider.json is missing"), "\(error)")
            }
            #expect(!FileManager.default.fileExists(atPath: bindingFile), "a refused start wrote a binding")
        }
        // The operator says which account: bound.
        try await Self.withPrepared(
            directory,
            configure: {
                $0.provider = .twilio(twilio)
                $0.rebindProvider = true
            }
        ) { _ in }
        #expect(
            try JSONDecoder().decode(ProviderBinding.self, from: Data(contentsOf: URL(fileURLWithPath: bindingFile)))
                == ProviderBinding(.twilio(twilio)))
    }

    /// A machine that boots with its clock far ahead (before NTP sets it) used to start billing on it at once: every
    /// number renewed for each month skipped, every idempotency key expired (a lost AddFunds answer, retried after
    /// the restart, was credited again). Such a start is refused; a clock behind is only logged.
    @Test func aClockFarAheadOfTheDataIsRefusedAtStart() async throws {
        let latest = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01
        var configuration = NumberdConfiguration(dataDirectory: "/nonexistent")
        let most = configuration.clockLeadMaxSeconds
        #expect(most == 31 * 86_400)
        try Numberd.checkClock(nil, now: latest.addingTimeInterval(1e9), configuration, logger: quietLogger)
        try Numberd.checkClock(latest, now: latest.addingTimeInterval(Double(most)), configuration, logger: quietLogger)
        try Numberd.checkClock(latest, now: latest.addingTimeInterval(-86_400), configuration, logger: quietLogger)
        #expect(throws: ConfigurationError.self) {
            try Numberd.checkClock(
                latest, now: latest.addingTimeInterval(Double(most + 1)), configuration, logger: quietLogger)
        }
        configuration.clockLeadMaxSeconds = 0  // off
        try Numberd.checkClock(latest, now: latest.addingTimeInterval(1e9), configuration, logger: quietLogger)

        // Wired into the start: the first start records its admin key and the time it saw; a second start, a
        // little later, with a lead limit shorter than the pause is refused before it writes anything.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-clock-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await Self.withPrepared(directory) { _ in }
        try await Task.sleep(for: .milliseconds(1_100))
        do {
            try await Self.withPrepared(directory, configure: { $0.clockLeadMaxSeconds = 1 }) { _ in }
            Issue.record("started with a clock ahead of its data by more than clock-lead-max")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("--clock-lead-max"), "\(error)")
        }
        // A quiet deployment writes no records, but the running numberd keeps the time it got to (the clock file,
        // at start, every minute and at shutdown): the check reads it too, so a restart after a long quiet run is not taken
        // for a clock far ahead. (Before the clock file, a numberd idle for 32 days could not be restarted.) Here the
        // records are over a second old and the mark says a running numberd saw a later time: the start is taken.
        let later = Date().addingTimeInterval(3_600)
        try DataDirectory(root: directory).advanceClockMark(to: later)
        #expect(
            DataDirectory(root: directory).readClockMark()
                == Date(timeIntervalSince1970: floor(later.timeIntervalSince1970)))
        try DataDirectory(root: directory).advanceClockMark(to: Date())  // never backwards
        #expect(DataDirectory(root: directory).readClockMark()! > Date())
        try await Self.withPrepared(directory, configure: { $0.clockLeadMaxSeconds = 1 }) { _ in }
    }

    /// The start wrote its clock mark before anything else and refused to start when it could not (a full disk): a
    /// crash loop that never frees the disk, which the start-up snapshot's own tolerance was there to avoid. The
    /// mark is now only warned about (it is advanced again every minute).
    @Test func aClockMarkThatCannotBeWrittenDoesNotStopTheStart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-mark-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await Self.withPrepared(directory) { _ in }
        // The mark's file replaced by a folder holding a file: writing it (a temporary file renamed over it) fails.
        let mark = directory + "/clock"
        try FileManager.default.removeItem(atPath: mark)
        try FileManager.default.createDirectory(atPath: mark + "/blocked", withIntermediateDirectories: true)
        #expect(throws: (any Error).self) { try DataDirectory(root: directory).advanceClockMark(to: Date()) }
        let serving = try await Self.withPrepared(directory) { numberd in
            try await numberd.service.createAccount(name: "after", currency: "USD").id
        }
        #expect(serving.hasPrefix("ACC_"))
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

    /// A start-up snapshot that cannot be written stopped the journal (fail-stop) and so the start: with a full disk
    /// or quota (a snapshot takes gigabytes while appends still fit) every restart died the same way, and segments are
    /// only deleted after a snapshot, so the disk only filled. Here its name is taken by a directory (the rename fails
    /// with EISDIR; the directory also cannot be read as a snapshot, so the start uses the journal from seq 1): the
    /// start goes on from the journal, logged, and writes work.
    @Test func aStartUpSnapshotThatCannotBeWrittenIsLoggedAndTheStartGoesOn() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-nosnap-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let account = try await Self.withPrepared(directory) { numberd in
            try await numberd.service.createAccount(name: "kept", currency: "USD").id
        }
        let store = directory + "/store"
        let records = try String(contentsOfFile: store + "/journal-00000000000000000001.jsonl", encoding: .utf8)
            .split(separator: "\n").count
        let taken = "snapshot-" + String(repeating: "0", count: 20 - String(records).count) + "\(records).json"
        try FileManager.default.createDirectory(atPath: store + "/" + taken, withIntermediateDirectories: false)
        try await Self.withPrepared(directory) { numberd in
            let kept = try numberd.service.account(account)
            #expect(kept.id == account)
            _ = try await numberd.service.createAccount(name: "after", currency: "USD")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: store)
        #expect(!files.contains { $0.hasSuffix(".tmp") }, "\(files)")
        #expect(files.filter { $0.hasPrefix("snapshot-") } == [taken], "the start-up snapshot was attempted and failed")
    }

    /// numberd raises its open-files limit to the hard limit at start; a `connectionsMax` that limit cannot hold (plus
    /// the reserve for the store, metrics and provider) is refused before anything is created, not found out under a
    /// connection flood (the journal's next segment failing with EMFILE stops the process).
    @Test func connectionsBeyondTheOpenFilesLimitAreLoweredToWhatItHolds() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-nofile-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lines = CapturingLogHandler.Lines()
        var configuration = NumberdConfiguration(dataDirectory: directory)
        configuration.listen.port = 0
        configuration.metricsListen = nil
        configuration.connectionLimits.connectionsMax = Int(Int32.max)
        let numberd = try await Numberd.prepare(
            configuration, logger: Logger(label: "t") { _ in CapturingLogHandler(lines: lines) })
        await numberd.close()
        let warning = lines.all.first { $0.message.contains("connections-max lowered") }
        let held = Int(warning?.metadata["connections_max"] ?? "") ?? 0
        #expect(held > 0 && held < Int(Int32.max), "\(String(describing: warning))")
    }

    /// A misspelt `NUMBERD_` variable left its default in force without a word (a config file's unknown key is
    /// refused): the start names each variable that names no setting, and says which flags are read from the command
    /// line only.
    @Test func ignoredEnvironmentVariablesAreNamedAtStart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-env-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lines = CapturingLogHandler.Lines()
        let configuration = try NumberdConfiguration.resolve(
            flags: ["data-dir": directory, "listen": "127.0.0.1:0", "metrics-listen": "off"],
            environment: ["NUMBERD_RATE_LIMT": "5", "NUMBERD_REBIND_PROVIDER": "true", "NUMBERD_LOG_LEVEL": "info"])
        let numberd = try await Numberd.prepare(
            configuration, logger: Logger(label: "t") { _ in CapturingLogHandler(lines: lines) })
        await numberd.close()
        let warnings = lines.all.filter { $0.message == "a NUMBERD_ environment variable is ignored" }
        #expect(warnings.map { $0.metadata["variable"] } == ["NUMBERD_RATE_LIMT", "NUMBERD_REBIND_PROVIDER"])
        #expect(warnings.allSatisfy { $0.level == .warning })
        #expect(warnings.last?.metadata["reason"] == "--rebind-provider is read from the command line only")
    }

    /// A state that breaks the core's invariants used to be served (nothing checked it at start; only `numberd verify`
    /// did). Here a record that fits replay (an adjustment of the balance) but adjusts it by 0 breaks `kind-sign`: the
    /// start is refused, naming the rule and `numberd verify`, which lists it too; a record
    /// that does not fit at all (a release of an unknown number) is refused by replay with its file and offset, and
    /// verify reports it instead of trapping.
    @Test func aStateThatBreaksItsInvariantsIsNotServed() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-broken-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let account = try await Self.withPrepared(directory) { numberd in
            try await numberd.service.createAccount(name: "a", currency: "USD").id
        }
        let store = URL(fileURLWithPath: directory + "/store")
        func append(_ event: CoreEvent) async throws {
            let opened = try FileJournal<CoreEvent, CoreState>.open(
                directory: store, options: .defaults, initialState: CoreState(),
                apply: { state, event in try state.applyChecked(event) })
            _ = try await opened.journal.append([event])
            await opened.journal.close()
        }
        try await append(
            .transactionPosted(
                LedgerTransaction(
                    id: "TXN_broken", accountId: account, kind: .adjustment, amount: 0, balanceAfter: 0,
                    currency: "USD", numberId: nil, description: "nothing", createdAt: Date(), idempotencyKey: nil)))
        do {
            try await Self.withPrepared(directory) { _ in }
            Issue.record("served a state that breaks its invariants")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("kind-sign"), "\(error)")
            #expect(error.description.contains("numberd verify --data-dir"), "\(error)")
        }
        let verified = try await runNumberdVerify(dataDirectory: directory)
        #expect(verified.status == 1, "\(verified.output)")
        #expect(verified.output.contains("kind-sign"), "\(verified.output)")

        try await append(.numberReleased(numberId: "NUM_unknown", at: Date(), refund: nil))
        do {
            try await Self.withPrepared(directory) { _ in }
            Issue.record("started on a journal record that does not fit")
        } catch let error as JournalError {
            #expect(error.code == .replayFailed, "\(error)")
            #expect("\(error)".contains("NUM_unknown") && "\(error)".contains("byte offset"), "\(error)")
        }
        let replayed = try await runNumberdVerify(dataDirectory: directory)
        #expect(replayed.status == 1, "\(replayed.output)")
        #expect(replayed.output.contains("NUM_unknown"), "\(replayed.output)")
    }

    /// A store folder on its own mount that failed to mount shows as an empty folder: numberd used to start on an
    /// empty state there (zero balances, a fresh admin key, numbers at the provider with no owner) and write a second
    /// journal the real one would hide once mounted again.
    @Test func aDirectoryWhoseStoreIsGoneIsNotStartedAfresh() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-nostore-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let account = try await Self.withPrepared(directory) { numberd in
            try await numberd.service.createAccount(name: "a", currency: "USD").id
        }
        let store = directory + "/store"
        let moved = directory + "/store-elsewhere"
        try FileManager.default.moveItem(atPath: store, toPath: moved)
        for emptied in [false, true] {
            if emptied { try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: false) }
            do {
                try await Self.withPrepared(directory) { _ in }
                Issue.record("started afresh on a lost store (emptied: \(emptied))")
            } catch let error as ConfigurationError {
                #expect(error.description.contains("store was lost or is not mounted"), "\(error)")
            }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: store)) ?? []
            #expect(names.isEmpty, "nothing written in place of the store: \(names)")
        }
        // Mounted again: it starts, with its data.
        try FileManager.default.removeItem(atPath: store)
        try FileManager.default.moveItem(atPath: moved, toPath: store)
        try await Self.withPrepared(directory) { numberd in
            let kept = try numberd.service.account(account)
            #expect(kept.id == account)
        }
        // A first start (no admin.key yet) is not affected: a new directory starts as before.
        let fresh = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-fresh-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: fresh) }
        try await Self.withPrepared(fresh) { _ in }
    }

    /// README tells an operator to remove `admin.key` to get a new admin key; done while the store's volume was not
    /// mounted, the directory looked new (`admin.key` was the only sign it had served), and numberd started afresh on
    /// an empty state. `clock` and `provider.json`, each written at every start once the store is open, tell it too.
    @Test func aDirectoryWithoutItsAdminKeyWhoseStoreIsGoneIsNotStartedAfresh() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-nokey-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let account = try await Self.withPrepared(directory) { numberd in
            try await numberd.service.createAccount(name: "a", currency: "USD").id
        }
        try FileManager.default.removeItem(atPath: directory + "/admin.key")
        let store = directory + "/store"
        let moved = directory + "/store-elsewhere"
        try FileManager.default.moveItem(atPath: store, toPath: moved)
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: false)
        // Each one alone is enough.
        for (witness, aside) in [("clock", "provider.json"), ("provider.json", "clock")] {
            let (kept, setAside) = (directory + "/" + aside, directory + "/" + aside + ".aside")
            try FileManager.default.moveItem(atPath: kept, toPath: setAside)
            do {
                try await Self.withPrepared(directory) { _ in }
                Issue.record("started afresh on a lost store beside \(witness)")
            } catch let error as ConfigurationError {
                #expect(error.description.contains("store was lost or is not mounted"), "\(error)")
                #expect(error.description.contains(directory + "/" + witness), "\(error)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: store).isEmpty, "nothing written in its place")
            #expect(!FileManager.default.fileExists(atPath: directory + "/admin.key"), "no admin key made")
            try FileManager.default.moveItem(atPath: setAside, toPath: kept)
        }
        // Mounted again: it starts with its data, and makes the new admin key the operator asked for.
        try FileManager.default.removeItem(atPath: store)
        try FileManager.default.moveItem(atPath: moved, toPath: store)
        try await Self.withPrepared(directory) { numberd in
            let found = try numberd.service.account(account)
            #expect(found.id == account)
            #expect(numberd.createdAdminKey != nil)
        }
    }

    /// A store whose `FORMAT` asks for a newer numberd (a rollback after an upgrade moved the format on) is not
    /// started: the start stops at the store, naming both formats and what to do, and the store is left as it was.
    @Test func aStoreOfANewerFormatIsNotStarted() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-format-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let account = try await Self.withPrepared(directory) { numberd in
            try await numberd.service.createAccount(name: "a", currency: "USD").id
        }
        let store = URL(fileURLWithPath: directory + "/store")
        let format = store.appendingPathComponent("FORMAT")
        let own = StoreFormat.current
        #expect(
            try Data(contentsOf: format) == Data(#"{"format":\#(own.format),"readers":\#(own.readers)}"#.utf8 + [10]))
        let newer = own.format + 1
        try Data(#"{"format":\#(newer),"readers":\#(newer)}"#.utf8).write(to: format)
        let files = { () throws -> [String: Data] in
            try FileManager.default.contentsOfDirectory(atPath: store.path).reduce(into: [:]) {
                $0[$1] = try Data(contentsOf: store.appendingPathComponent($1))
            }
        }
        let before = try files()
        do {
            try await Self.withPrepared(directory) { _ in }
            Issue.record("started on a store of a newer format")
        } catch let error as JournalError {
            #expect(error.code == .formatTooNew)
            #expect(error.message.contains("this numberd reads store formats up to \(own.format)"), "\(error)")
            #expect(error.message.contains("restore a backup taken before the upgrade"), "\(error)")
        }
        #expect(try files() == before)
        // Its own format back (as if rolled forward): it starts, with its data.
        try Data(#"{"format":\#(own.format),"readers":\#(own.readers)}"#.utf8 + [10]).write(to: format)
        try await Self.withPrepared(directory) { numberd in
            let kept = try numberd.service.account(account)
            #expect(kept.id == account)
        }
    }

    /// The in-process simulator's auth token was derived from the seed (1 by default; `twilio-sim --seed 1` prints
    /// it): any local user could compute it and release or buy every customer's numbers through its loopback port.
    /// It is drawn at every start now; the account SID still follows the seed (provider.json binds to it).
    @Test func theInProcessSimulatorsTokenCannotBeComputed() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-simtoken-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let derived = SimulatorCredentials.generated(seed: 1)
        func status(_ simulator: TwilioSimulator, _ accountSid: String, _ authToken: String) -> Int? {
            let token = Data("\(accountSid):\(authToken)".utf8).base64EncodedString()
            let request = SimulatorRequest(
                method: "GET", target: "/2010-04-01/Accounts/\(accountSid)/IncomingPhoneNumbers.json",
                headers: [("Authorization", "Basic \(token)")], body: [])
            guard case .respond(let response) = simulator.engine.handle(request) else { return nil }
            return response.status
        }
        var tokens: [String] = []
        for _ in 0..<2 {
            try await Self.withPrepared(directory) { numberd in
                let simulator = try #require(numberd.simulator)
                #expect(simulator.credentials.accountSid == derived.accountSid)
                #expect(simulator.credentials.authToken != derived.authToken)
                #expect(simulator.credentials.apiKeys.isEmpty)
                #expect(status(simulator, derived.accountSid, derived.authToken) == 401)
                #expect(status(simulator, derived.accountSid, simulator.credentials.authToken) == 200)
                // numberd itself reaches it.
                let account = try await numberd.service.createAccount(name: "a", currency: "USD")
                let found = try await numberd.service.search(ProviderSearchQuery(country: "US"), accountId: account.id)
                #expect(!found.numbers.isEmpty)
                tokens.append(simulator.credentials.authToken)
            }
        }
        #expect(tokens[0] != tokens[1])
    }

    /// The in-process simulator kept the default 10 000 request log entries, each with the request's whole form and
    /// query whoever sent it: a local user without credentials could fill numberd's heap with gigabytes. numberd never
    /// reads the log (its tests read the newest few entries), so it keeps 100, each bounded.
    @Test func theInProcessSimulatorKeepsASmallRequestLog() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-simlog-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await Self.withPrepared(directory) { numberd in
            let limits = try #require(numberd.simulator).engine.configuration.limits
            #expect(limits.requestLogEntriesMax == 100)
            #expect(limits.requestLogEntryBytesMax == SimulatorConfiguration.Limits.defaults.requestLogEntryBytesMax)
        }
    }

    /// Journal segments and snapshots were created 0644, relying on `store/` being 0700; a `store/` restored from a
    /// backup as 0755 kept that mode, so every local user could read the ledger.
    @Test func theStoreAndItsFilesAreOnlyTheOwners() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-modes-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await Self.withPrepared(directory) { _ in }
        for folder in ["/store", "/tls"] {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory + folder)
        }
        try await Self.withPrepared(directory) { numberd in
            _ = try await numberd.service.createAccount(name: "a", currency: "USD")
        }
        func mode(_ path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int ?? -1) & 0o777
        }
        #expect(try mode(directory + "/store") == 0o700)
        #expect(try mode(directory + "/tls") == 0o700)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory + "/store")
        #expect(files.contains { $0.hasPrefix("journal-") } && files.contains { $0.hasPrefix("snapshot-") })
        for file in files {
            #expect(try mode(directory + "/store/" + file) == 0o600, "\(file)")
        }
        // A folder numberd does not own (a mount point root:numberd 0770) is the operator's: left as it is (chmod
        // there failed the start; `UnprivilegedUserTests` serves one as its group). Here another uid owns it and the
        // store in it (its files, FORMAT among them) and the tests run as root, which is refused such a store before
        // it writes anything: files root wrote there would be unreadable to their owner.
        guard geteuid() == 0 else { return }
        for path in [""] + files.map({ "/" + $0 }) { #expect(chown(directory + "/store" + path, 12_345, 12_345) == 0) }
        try FileManager.default.setAttributes([.posixPermissions: 0o770], ofItemAtPath: directory + "/store")
        let refused = await #expect(throws: ConfigurationError.self) {
            try await Self.withPrepared(directory) { _ in }
        }
        #expect(refused?.description.contains("belongs to user id 12345") == true, "\(String(describing: refused))")
        #expect(try mode(directory + "/store") == 0o770)
    }

    /// `admin.key` was read, and its key kept, whatever the file's mode: one made readable by others (a copy,
    /// `install -m 644`, a Kubernetes `fsGroup`) gave the all-powerful key to every local user, while a Twilio secret
    /// file such as that is refused. A start now makes a file it owns 0600, with a warning naming it, and refuses one
    /// another user owns (it cannot chmod that), as the Twilio secret file rule does.
    @Test func anAdminKeyOthersCanReadIsMadeTheOwnersOnlyAtStart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-keymode-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keyFile = DataDirectory(root: directory).adminKeyFile
        func mode() throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int ?? -1) & 0o777
        }
        let secret = try await Self.withPrepared(directory) { numberd in
            try #require(numberd.createdAdminKey?.secret)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: keyFile)
        let lines = CapturingLogHandler.Lines()
        var configuration = NumberdConfiguration(dataDirectory: directory)
        configuration.listen.port = 0
        configuration.metricsListen = nil
        let numberd = try await Numberd.prepare(
            configuration, logger: Logger(label: "t") { _ in CapturingLogHandler(lines: lines) })
        let kept = try Self.fileKey(numberd)
        await numberd.close()
        #expect(numberd.createdAdminKey == nil && kept == secret, "the file's key works: kept")
        #expect(try mode() == 0o600)
        let warning = lines.all.first { $0.metadata["file"] == keyFile && $0.level == .warning }
        #expect(warning?.metadata["mode"] == "644", "\(lines.all)")
        #expect(warning?.message.contains("0600") == true, "\(String(describing: warning))")
        // A file already the owner's only: no warning.
        let quiet = CapturingLogHandler.Lines()
        let again = try await Numberd.prepare(
            configuration, logger: Logger(label: "t") { _ in CapturingLogHandler(lines: quiet) })
        await again.close()
        #expect(!quiet.all.contains { $0.metadata["file"] == keyFile && $0.level == .warning }, "\(quiet.all)")
        // Another user's file: refused, left as it is. The tests run as root, which may chown.
        guard geteuid() == 0 else { return }
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: keyFile)
        #expect(chown(keyFile, 65_534, 65_534) == 0)
        do {
            try await Self.withPrepared(directory) { _ in }
            Issue.record("started with another user's admin.key that others can read")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("chmod 600 \(keyFile)"), "\(error)")
        }
        #expect(try mode() == 0o640)
    }
}
