import CurlHTTP
import Foundation
import Logging
import Prometheus
import TestSupport
import Testing
import TwilioSimulator

@testable import NumberCore

/// "retrying Twilio request" was an info line per retry with no limit: in a Twilio 503 incident driven by tenants'
/// traffic, about 120 lines a second. The lines now go through a budget (20 a reason at info in 10 s, the rest at
/// debug, counted), and every retry is counted in `numberd_twilio_retries_total{reason}`, so the rate shows on the
/// metrics rather than in the log.
@Suite("Twilio retries: counted by reason, their log lines within a budget")
struct TwilioRetryLogTests {
    @Test("50 searches during a Twilio 503: every retry counted, at most 20 retry lines at info a window")
    func retriesAreCountedAndTheirLinesBudgeted() async throws {
        try await withTwilio { twilio in
            twilio.engine.addFault(
                FaultRule(endpoint: .searchNumbers, kind: .serverErrorBeforeActing(.serviceUnavailable)))
            let lines = CapturingLogHandler.Lines()
            let registry = PrometheusCollectorRegistry()
            let provider = try TwilioProvider(
                configuration: twilio.configuration,
                logger: Logger(label: "test.twilio") { _ in CapturingLogHandler(lines: lines) },
                sleep: { _ in }, random: { $0.upperBound }, monotonicNow: { ContinuousClock.now },
                metricsFactory: PrometheusMetricsFactory(registry: registry))
            let searches = 50
            let started = ContinuousClock.now
            for _ in 0..<searches {
                await expectProviderError(.unavailable) {
                    try await provider.search(ProviderSearchQuery(country: "US", areaCode: "415", limit: 2))
                }
            }
            let took = started.duration(to: .now)
            await provider.shutdown()

            let attempts = TwilioRetryPolicy.defaults.attemptsMax
            #expect(twilio.requests(.searchNumbers).count == searches * attempts)
            let retries = Double(searches * (attempts - 1))
            let counted = "numberd_twilio_retries_total"
            #expect(ProviderProbe.count(counted, ["reason": "server_error"], in: registry) == retries)
            #expect(ProviderProbe.count(counted, in: registry) == retries, "no other reason")

            let retryLines = lines.all.filter { $0.message == "retrying Twilio request" }
            #expect(Double(retryLines.count) == retries, "every retry keeps its line, at info or at debug")
            #expect(retryLines.allSatisfy { $0.level == .info || $0.level == .debug })
            // A slow run may span more than one window: each lets its own lines through.
            let windows = Int(took / TwilioTransport.retryLogWindow) + 1
            let info = retryLines.filter { $0.level == .info }.count
            #expect(info >= TwilioTransport.retryLogLinesMax, "\(info)")
            #expect(info <= TwilioTransport.retryLogLinesMax * windows, "\(info) in \(took)")
            // Each later window's first line is preceded by one saying how many went to debug.
            let summaries = lines.all.filter { $0.message.hasPrefix("retries of Twilio requests logged at debug") }
            #expect(summaries.count <= windows - 1, "\(summaries)")
            #expect(summaries.allSatisfy { $0.level == .info && $0.metadata["kind"] == "server_error" })
        }
    }

    @Test(arguments: [
        (HTTPClientError.Code.dnsResolution, "dns"), (.connect, "connect"), (.tlsHandshake, "tls_handshake"),
        (.timeout, "timeout"), (.connectionLost, "connection_lost"), (.protocolError, "protocol_error"),
        (.tlsVerification, "other"),
    ])
    func transportFailuresHaveAFixedReason(code: HTTPClientError.Code, reason: String) {
        #expect(TwilioTransport.RetryReason(code).rawValue == reason)
    }
}
