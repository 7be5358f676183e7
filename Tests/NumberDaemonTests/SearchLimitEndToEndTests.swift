import Foundation
import NumberAPI
import NumberClient
import NumberCore
import Testing
import TwilioSimulator

/// The search `limit` over real TLS: none given is `limits.searchResultsDefault` (20), at most
/// `limits.searchResultsMax` (100) is taken, one more is refused before Twilio is asked.
@Suite("Search limits end to end", .serialized)
struct SearchLimitEndToEndTests {
    /// `twilio-timeout-ms` was applied to Twilio only: with the in-process simulator the adapter kept its 15 s, and
    /// a test (or a demo) could not change it.
    @Test("twilio-timeout-ms bounds the adapter's requests to the in-process simulator too")
    func twilioTimeoutAppliesToTheSimulator() async throws {
        try await withNumberd(configure: { $0.twilioRequestTimeoutMilliseconds = 1_000 }) { numberd in
            // Every attempt answered after 5 s: within the adapter's 15 s default (the search then succeeded), past
            // the 1 s asked for.
            numberd.simulator.engine.addFault(
                FaultRule(endpoint: .searchNumbers, kind: .latency(milliseconds: 5_000), times: 100))
            try await withNumbersClient(numberd.client()) { admin in
                let account = try await makeAccount(admin, name: "Searcher", funds: 0)
                let timedOut = await #expect(throws: RPCError.self) {
                    try await admin.searchNumbers(
                        SearchNumbersRequest(accountId: account.id, country: "US", areaCode: "415"))
                }
                #expect(timedOut?.reason == "PROVIDER_UNAVAILABLE", "\(String(describing: timedOut))")
            }
        }
    }

    @Test("no limit answers 20 of the numbers found; 100 is taken; 101 is refused LIMIT_EXCEEDED, Twilio not asked")
    func searchLimitEdges() async throws {
        #expect(NumberServiceConfig.defaults.limits.searchResultsDefault == 20)
        #expect(NumberServiceConfig.defaults.limits.searchResultsMax == 100)
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let account = try await makeAccount(admin, name: "Searcher", funds: 0)
                try await withNumbersClient(numberd.client(key: account.key)) { client in
                    let unlimited = try await client.searchNumbers(SearchNumbersRequest(country: "US", areaCode: "415"))
                    #expect(unlimited.numbers.count == 20 && unlimited.totalFound > 20, "\(unlimited.totalFound)")
                    let most = try await client.searchNumbers(
                        SearchNumbersRequest(country: "US", areaCode: "415", limit: 100))
                    #expect(most.numbers.count == Int(most.totalFound) && most.numbers.count > 20)
                    // Twilio answers at most about 30 numbers, as the simulator does: 415 has more, so both totals
                    // are lower bounds ("30+"); a search for one number is not.
                    #expect(unlimited.totalFoundIsLowerBound && most.totalFoundIsLowerBound)
                    let one = try await client.searchNumbers(
                        SearchNumbersRequest(country: "US", contains: most.numbers[0].phoneNumber))
                    #expect(one.totalFound == 1 && !one.totalFoundIsLowerBound, "\(one)")
                    let engine = numberd.simulator.engine
                    engine.clearRequestLog()
                    let refused = await #expect(throws: RPCError.self) {
                        try await client.searchNumbers(SearchNumbersRequest(country: "US", areaCode: "415", limit: 101))
                    }
                    #expect(refused?.code == .invalidArgument && refused?.reason == "LIMIT_EXCEEDED")
                    #expect(refused?.details["max"] == "100", "\(String(describing: refused))")
                    #expect(engine.requestLog.isEmpty, "refused before Twilio is asked")
                }
            }
        }
    }
}
