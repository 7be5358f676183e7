import NIOCore
import NumberWire
import Testing

@testable import NumberClient

/// Every field of a configuration is a `var`, set after its initializer checked it: `NumbersClient(configuration:)`
/// checks them all again and throws, naming the field, instead of failing every call with the wrong error (a pool of
/// 0 connections: `CLIENT_CLOSED`) or trapping at the first connect (a negative `queuedCallsMax`, a zero PING timeout).
@Suite("Client configuration checks")
struct ClientConfigurationTests {
    /// One field set to a value the client cannot work with.
    struct BadValue: Sendable, CustomTestStringConvertible {
        var field: String
        var change: @Sendable (inout NumbersClientConfiguration) -> Void

        var testDescription: String { field }
    }

    static let badValues: [BadValue] = [
        BadValue(field: "host") { $0.host = "" },
        BadValue(field: "port") { $0.port = 0 },
        BadValue(field: "port") { $0.port = 65_536 },
        BadValue(field: "serverHostname") { $0.serverHostname = "" },
        BadValue(field: "connectionPoolSize") { $0.connectionPoolSize = 0 },
        BadValue(field: "connectTimeout") { $0.connectTimeout = .zero },
        BadValue(field: "handshakeTimeout") { $0.handshakeTimeout = .zero },
        BadValue(field: "defaultTimeout") { $0.defaultTimeout = .seconds(-1) },
        BadValue(field: "queuedCallsMax") { $0.queuedCallsMax = -1 },
        BadValue(field: "poolWaitingCallsMax") { $0.poolWaitingCallsMax = 0 },
        BadValue(field: "retry.attemptsMax") { $0.retry.attemptsMax = 0 },
        BadValue(field: "retry.initialBackoff") { $0.retry.initialBackoff = .milliseconds(-1) },
        BadValue(field: "retry.backoffMax") { $0.retry.backoffMax = .milliseconds(10) },
        BadValue(field: "retry.inProgressRetriesMax") { $0.retry.inProgressRetriesMax = -1 },
        BadValue(field: "retry.restartRetriesMax") { $0.retry.restartRetriesMax = -1 },
        BadValue(field: "liveness.pingTimeout") { $0.liveness.pingTimeout = .zero },
        BadValue(field: "liveness.tcpKeepaliveIdle") { $0.liveness.tcpKeepaliveIdle = .zero },
        BadValue(field: "liveness.tcpKeepaliveInterval") { $0.liveness.tcpKeepaliveInterval = .seconds(-1) },
        BadValue(field: "liveness.tcpUserTimeout") { $0.liveness.tcpUserTimeout = .zero },
        BadValue(field: "settings.maxMessagePayload") { $0.settings.maxMessagePayload = 0 },
        BadValue(field: "settings.maxConcurrentStreams") { $0.settings.maxConcurrentStreams = 0 },
        BadValue(field: "settings.maxHeadersPayload") { $0.settings.maxHeadersPayload = 16 },
    ]

    @Test(
        "a field set to a value the client cannot work with: NumbersClient(configuration:) throws, naming it",
        arguments: badValues)
    func refused(_ bad: BadValue) {
        var configuration = NumbersClientConfiguration(host: "127.0.0.1", port: 7443, trustRoots: .system)
        bad.change(&configuration)
        let changed = configuration
        let error = #expect(throws: NumbersClientConfiguration.ConfigurationError.self) {
            _ = try NumbersClient(configuration: changed)
        }
        #expect(error?.field == bad.field, "\(String(describing: error))")
        #expect(
            error?.description.hasPrefix("NumbersClientConfiguration.\(bad.field): ") == true,
            "\(String(describing: error))")
    }

    @Test("the defaults, and the edges of each range, are accepted")
    func accepted() async throws {
        var configuration = NumbersClientConfiguration(host: "127.0.0.1", port: 65_535, trustRoots: .system)
        configuration.queuedCallsMax = 0
        configuration.retry = .none
        configuration.liveness.tcpKeepaliveIdle = nil
        configuration.liveness.tcpUserTimeout = nil
        configuration.settings.maxMessagePayload = ConnectionSettings.Identifier.maxMessagePayload.range.lowerBound
        try configuration.validate()
        try NumbersClientConfiguration(trustRoots: .system).validate()
        let client = try NumbersClient(configuration: configuration)
        await client.close()
    }
}
