import CurlHTTP
import Foundation
import Logging
import Prometheus
import Testing
import TwilioSimulator

@testable import NumberCore

/// A tenant's own cancelled calls counted as Twilio being unavailable: a caller whose deadline passed, or that
/// cancelled or disconnected, cancels its handler's task, libcurl's client removes the transfer (`.cancelled`), and
/// that was mapped like a failure to reach Twilio — `numberd_twilio_calls_total{outcome="unavailable"}`, which the
/// README's "Twilio failing" alert counts, and a "provider is unavailable" warning for a caller that had gone. Such a
/// request is now counted as `cancelled` and ends the call with CANCELLED; a purchase's POST cancelled after it was
/// sent is still an unknown outcome for the saga.
@Suite("A request the caller's cancellation ended is not Twilio failing")
struct TwilioCancellationTests {
    static let usLocal = ProviderSearchQuery(country: "US", areaCode: "415", limit: 2)

    /// Waits (60 s at most: a loaded machine can be slow) until the simulator holds a request.
    static func waitUntilHeld(_ twilio: TwilioSimulatorFixture) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while twilio.engine.requestsInFlight == 0 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        try #require(twilio.engine.requestsInFlight >= 1, "the slow request never got in flight")
    }

    /// Client timeouts well past the searches' injected latency (300 s), so that only the cancel ends them: a starved
    /// test process gets no CPU for up to 50 s, more than a 20 s latency (or the fixture's 5 s in all).
    static func slowSearch(_ configuration: inout TwilioConfiguration) {
        configuration.http.timeouts.connectMilliseconds = 300_000
        configuration.http.timeouts.totalMilliseconds = 600_000
    }

    @Test("a transfer cancelled while Twilio is slow is counted as cancelled, not unavailable, and not retried")
    func cancelledTransferIsCountedAsCancelled() async throws {
        try await withTwilio(configure: Self.slowSearch) { twilio in
            twilio.engine.addFault(FaultRule(endpoint: .searchNumbers, kind: .latency(milliseconds: 300_000), times: 1))
            let search = Task { try await twilio.provider.search(Self.usLocal) }
            try await Self.waitUntilHeld(twilio)
            let inFlight = "numberd_twilio_calls_in_flight"
            #expect(twilio.probe.count(inFlight, ["method": "get", "resource": "Local"]) == 1, "under way")
            search.cancel()
            let failure = await expectProviderError(.unavailable) { try await search.value }
            let error = try #require(failure)
            #expect(error.cancelled, "\(error)")
            #expect(twilio.probe.count(inFlight, ["method": "get", "resource": "Local"]) == 0, "ended")
            #expect(twilio.probe.recordedSleeps.isEmpty, "a cancelled request is not tried again")
            let calls = "numberd_twilio_calls_total"
            #expect(twilio.probe.count(calls, ["resource": "Local", "outcome": "cancelled"]) == 1)
            #expect(twilio.probe.count(calls, ["outcome": "unavailable"]) == 0)
            #expect(twilio.probe.count(calls) == 1)
        }
    }

    @Test("a wait before a retry that the caller's cancellation ends is counted as cancelled")
    func cancelledRetryWaitIsCountedAsCancelled() async throws {
        // The 503 must come back as itself, not as the fixture's 5 s timeout in a starved run.
        try await withTwilio(configure: Self.slowSearch) { twilio in
            twilio.engine.addFault(
                FaultRule(endpoint: .searchNumbers, kind: .serverErrorBeforeActing(.serviceUnavailable)))
            let registry = PrometheusCollectorRegistry()
            // The real sleep throws only when the task is cancelled.
            let provider = try TwilioProvider(
                configuration: twilio.configuration, logger: Logger(label: "test.twilio"),
                sleep: { _ in throw CancellationError() }, random: { $0.upperBound },
                monotonicNow: { ContinuousClock.now }, metricsFactory: PrometheusMetricsFactory(registry: registry))
            let error = await expectProviderError(.unavailable) { try await provider.search(Self.usLocal) }
            await provider.shutdown()
            #expect(error?.cancelled == true, "\(String(describing: error))")
            #expect(twilio.requests(.searchNumbers).count == 1)
            let calls = "numberd_twilio_calls_total"
            #expect(ProviderProbe.count(calls, ["outcome": "cancelled"], in: registry) == 1)
            #expect(ProviderProbe.count(calls, ["outcome": "unavailable"], in: registry) == 0)
            // The retry was decided (and counted) before its wait was cut short.
            #expect(ProviderProbe.count("numberd_twilio_retries_total", ["reason": "server_error"], in: registry) == 1)
        }
    }

    /// Only the label and the caller's error change: a POST cancelled after it was sent may have bought the number, so
    /// the saga still looks it up (an unknown outcome that may still take effect), and a DELETE's marks stay the
    /// transport's.
    @Test("a cancelled POST that may have been sent is still an unknown outcome; a cancelled GET is the caller's")
    func cancellationKeepsTheSagasView() {
        let running = HTTPClientError(
            code: .cancelled, message: "the request was cancelled while running", requestMayHaveBeenSent: true)
        let buy = TwilioErrorMapping.transportError(running, method: .post, operation: "buy +14155550100")
        #expect(buy.kind == .outcomeUnknown && buy.mayStillTakeEffect && buy.cancelled, "\(buy)")
        #expect(NumberService.mayHaveHappened(buy) && NumberService.mayStillTakeEffect(buy))
        #expect(NumberError.provider(buy).reason == .outcomeUnknown)

        let queued = HTTPClientError(
            code: .cancelled, message: "the request was cancelled before it was sent", requestMayHaveBeenSent: false)
        let notSent = TwilioErrorMapping.transportError(queued, method: .post, operation: "buy +14155550100")
        #expect(notSent.kind == .unavailable && !notSent.mayStillTakeEffect && notSent.cancelled, "\(notSent)")
        #expect(!NumberService.mayHaveHappened(notSent), "never sent: nothing was bought")

        let search = TwilioErrorMapping.transportError(running, method: .get, operation: "search US local")
        #expect(search.kind == .unavailable && search.cancelled)
        let mapped = NumberError.provider(search)
        #expect(mapped.code == .cancelled && mapped.internalDetail == nil, "\(mapped)")
        // Any other failure is the provider's, as before.
        let timeout = HTTPClientError(code: .timeout, message: "timed out", requestMayHaveBeenSent: true)
        let slow = TwilioErrorMapping.transportError(timeout, method: .get, operation: "search US local")
        #expect(!slow.cancelled && NumberError.provider(slow).reason == .providerUnavailable)
        #expect(NumberError.provider(slow).code == .unavailable)
    }

    @Test("a search cancelled while Twilio is slow: CANCELLED for the caller, nothing counted as unavailable")
    func searchCancelledAtTheService() async throws {
        try await withServiceOverTwilio(configure: Self.slowSearch) { twilio, service, _, _ in
            // The price first (a call of its own, cached), so the search's GET is the one held.
            _ = try await service.quote(country: "US", type: .local)
            twilio.engine.addFault(FaultRule(endpoint: .searchNumbers, kind: .latency(milliseconds: 300_000), times: 1))
            let search = Task { try await service.search(Self.usLocal) }
            try await Self.waitUntilHeld(twilio)
            search.cancel()
            let error = await numberError { _ = try await search.value }
            #expect(error?.code == .cancelled, "\(String(describing: error))")
            // Nothing for the operator's log: the server logs a core error's internal detail as a warning.
            #expect(error?.internalDetail == nil, "\(String(describing: error))")
            let calls = "numberd_twilio_calls_total"
            #expect(twilio.probe.count(calls, ["outcome": "unavailable"]) == 0)
            #expect(twilio.probe.count(calls, ["resource": "Local", "outcome": "cancelled"]) == 1)
        }
    }
}
