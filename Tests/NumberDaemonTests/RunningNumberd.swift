import CurlHTTP
import Foundation
import Logging
import NumberAPI
import NumberClient
import NumberDaemon
import Prometheus
import ServiceLifecycle
import TwilioSimulator

let quietLogger = Logger(label: "numberd-e2e", factory: { _ in SwiftLogNoOpLogHandler() })

/// numberd on its embedded defaults (in-process simulator, generated TLS, JSON store) in a temporary data directory,
/// listening on 127.0.0.1:0.
struct RunningNumberd {
    let numberd: Numberd
    let port: Int
    let adminKey: String
    let dataDirectory: String

    var simulator: TwilioSimulator { numberd.simulator! }

    /// A client of this numberd with `key` (default: the admin key), making one attempt per call. Its connect (and
    /// SETTINGS) wait is 60 s, not 5 s, and its TLS handshake's 60 s, not 10 s:
    /// with one attempt, a handshake that took 15 s on a loaded machine (seen in full runs) failed the test.
    func client(key: String? = nil) -> NumbersClientConfiguration {
        var configuration = NumbersClientConfiguration(
            host: "127.0.0.1", port: port, apiKey: key ?? adminKey,
            trustRoots: .file(numberd.dataDirectory.caCertificate), connectTimeout: .seconds(60), retry: .none)
        configuration.handshakeTimeout = .seconds(60)
        // The call's deadline covers its wait for the connection too: 30 s left the first call less than the waits
        // above. Tests of a deadline give their own.
        configuration.defaultTimeout = .seconds(300)
        return configuration
    }

    /// Creates an Elastic SIP trunk at the simulator over its HTTPS API (as an operator would at Twilio).
    func createProviderTrunk(name: String) async throws -> String {
        try await postToProvider("/v1/Trunks", [("FriendlyName", name)])
    }

    /// Buys a number at the simulator over its HTTPS API, behind numberd's back (as in Twilio's console); returns its
    /// SID.
    func buyAtProvider(_ phoneNumber: String) async throws -> String {
        try await postToProvider(
            "/2010-04-01/Accounts/\(simulator.credentials.accountSid)/IncomingPhoneNumbers.json",
            [("PhoneNumber", phoneNumber)])
    }

    /// Releases a number at the simulator over its HTTPS API, behind numberd's back.
    func releaseAtProvider(sid: String) async throws {
        let response = try await requestProvider(
            .delete, "/2010-04-01/Accounts/\(simulator.credentials.accountSid)/IncomingPhoneNumbers/\(sid).json", [])
        guard response.status == 204 else {
            throw RPCError(code: .internal, message: "DELETE \(sid) at the simulator failed: \(response.status)")
        }
    }

    /// POSTs a form to the simulator with the account's credentials; returns the created resource's SID.
    private func postToProvider(_ path: String, _ form: [(String, String)]) async throws -> String {
        let response = try await requestProvider(.post, path, form)
        let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        guard response.status == 201, let sid = json?["sid"] as? String else {
            throw RPCError(code: .internal, message: "POST \(path) at the simulator failed: \(response.status)")
        }
        return sid
    }

    private func requestProvider(
        _ method: HTTPMethod, _ path: String, _ form: [(String, String)]
    ) async throws -> HTTPResponse {
        var http = HTTPClientConfiguration.defaults
        http.tls.caFilePath = numberd.dataDirectory.caCertificate
        // A test's own step, not numberd's: past what a loaded full run makes a TLS connect take (the default 10 s
        // connect once ran out in a CI run's handshake).
        http.timeouts.connectMilliseconds = 120_000
        http.timeouts.totalMilliseconds = 180_000
        return try await withCurlHTTPClient(configuration: http) { client in
            try await client.execute(
                HTTPRequest(
                    method: method, url: simulator.baseURL + TwilioAPI.hostedPath(path),
                    headers: form.isEmpty ? [] : [HTTPHeader(name: "Content-Type", value: FormURLEncoding.contentType)],
                    body: form.isEmpty ? [] : Array(FormURLEncoding.encode(form).utf8),
                    basicAuth: BasicCredentials(
                        username: simulator.credentials.accountSid, password: simulator.credentials.authToken)))
        }
    }
}

/// Runs numberd for the duration of `body`, then shuts it down gracefully; in a temporary data directory removed
/// afterwards, or in `dataDirectory` (kept, so a later run restarts on it). numberd logs through `logger` and, when
/// given, makes its own metrics (gauges) in `metrics`, which it also serves if `configure` sets a `metricsListen`;
/// `configure` changes the configuration before the start; `logLevel` is the level `logger`'s handler follows
/// (`QueuedLogHandler`), which a reload changes.
func withNumberd(
    dataDirectory: String? = nil, logger: Logger = quietLogger, metrics: PrometheusCollectorRegistry? = nil,
    logLevel: SharedLogLevel? = nil, configure: (inout NumberdConfiguration) -> Void = { _ in },
    _ body: (RunningNumberd) async throws -> Void
) async throws {
    let directory =
        dataDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("numberd-e2e-\(UUID())").path
    defer { if dataDirectory == nil { try? FileManager.default.removeItem(atPath: directory) } }
    var configuration = NumberdConfiguration(dataDirectory: directory)
    configuration.listen.port = 0
    configuration.metricsListen = nil
    // From accept to the client's SETTINGS, TLS handshake included: 10 s by default, which a loaded machine's
    // handshake has taken (the tests' clients wait 60 s for it too).
    configuration.connectionLimits.settingsTimeout = .seconds(60)
    // The adapter's requests to the in-process simulator: 15 s by default, which a loaded full run's simulator
    // (its state synced per change) has outlasted. Tests of a timeout set their own.
    configuration.twilioRequestTimeoutMilliseconds = 120_000
    configure(&configuration)
    let numberd = try await Numberd.prepare(configuration, logger: logger, metrics: metrics, logLevel: logLevel)
    let group = ServiceGroup(services: numberd.services, logger: logger)
    var failure: (any Error)?
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        do {
            let port = try await numberd.server.listeningAddress().port!
            try await body(
                RunningNumberd(
                    numberd: numberd, port: port,
                    adminKey: try numberd.createdAdminKey?.secret
                        ?? String(contentsOfFile: numberd.dataDirectory.adminKeyFile, encoding: .utf8)
                        .trimmingCharacters(in: .whitespacesAndNewlines),
                    dataDirectory: directory))
        } catch {
            failure = error
        }
        await group.triggerGracefulShutdown()
        try await tasks.next()
    }
    await numberd.close()
    if let failure { throw failure }
}

/// An account with `funds` minor units of USD and an account-scoped key.
struct TestAccount {
    let id: String
    let key: String
}

func makeAccount(
    _ admin: NumbersClient, name: String, funds: Int64, scope: KeyScope = .account
) async throws -> TestAccount {
    let account = try await admin.createAccount(CreateAccountRequest(name: name, currency: "USD")).account
    if funds > 0 {
        _ = try await admin.addFunds(AddFundsRequest(accountId: account.id, amount: funds, currency: "USD"))
    }
    let key = try await admin.createApiKey(
        CreateApiKeyRequest(accountId: account.id, scope: scope, name: "\(name) key"))
    return TestAccount(id: account.id, key: key.secret)
}
