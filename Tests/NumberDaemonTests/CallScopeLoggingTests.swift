import Logging
import NumberAPI
import NumberClient
import TestSupport
import Testing
import TwilioSimulator

/// The core's and the Twilio adapter's log lines about a call carry the call's request-id, so an operator can follow
/// one purchase from the client's report through the saga to the provider's retries.
@Suite("numberd: core log lines carry the call's request-id")
struct CallScopeLoggingTests {
    @Test("a purchase whose outcome is unknown: the saga's warning and the adapter's retries name the request-id")
    func purchaseLogLinesCarryTheRequestID() async throws {
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "numberd-e2e") { _ in CapturingLogHandler(lines: lines) }
        try await withNumberd(logger: logger) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let acme = try await makeAccount(admin, name: "Acme", funds: 10_000)
                try await withNumbersClient(numberd.client(key: acme.key)) { client in
                    // Not searched: a number from a search is looked up before its buy, which the failing look-ups
                    // below would refuse. This one is checked by a search anchored at it.
                    let phone = try #require(
                        numberd.simulator.engine.availableNumbers(country: "US", type: .local, limit: 1).first?
                            .phoneNumber)
                    // The buy lands but its answer is lost, and every look-up fails: the outcome is unknown.
                    for spec in ["buyNumber:lost:1:1", "listNumbers:503-before:1"] {
                        numberd.simulator.engine.addFault(try FaultRule.parse(spec))
                    }
                    let error = await #expect(throws: RPCError.self) {
                        _ = try await client.purchaseNumbers(
                            PurchaseNumbersRequest(country: "US", numbers: [phone], currency: "USD"),
                            options: CallOptions(requestID: "req-buy-7"))
                    }
                    #expect(error?.reason == "OUTCOME_UNKNOWN", "\(String(describing: error))")
                    numberd.simulator.engine.clearFaults()
                }
            }
        }
        let unknown = lines.all.first { $0.message == "purchase outcome unknown; left for reconciliation" }
        #expect(unknown?.metadata["request-id"] == "req-buy-7", "\(String(describing: unknown))")
        let retries = lines.all.filter { $0.message == "retrying Twilio request" }
        #expect(retries.contains { $0.metadata["request-id"] == "req-buy-7" }, "\(retries)")
        // Lines written outside any call (start-up, shutdown, background runs) name none.
        #expect(lines.all.contains { $0.metadata["request-id"] == nil })
    }
}
