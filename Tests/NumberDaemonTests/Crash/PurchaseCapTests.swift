import NumberAPI
import NumberClient
import Testing
import TwilioSimulator

/// The per-account purchase cap counts a purchase whose outcome is unknown: it may still be committed by
/// reconciliation, so giving its share back would let a client go past the cap by retrying.
@Suite("purchase cap and unknown outcomes (numberd child process)", .serialized)
struct PurchaseCapTests {
    @Test("a purchase answered OUTCOME_UNKNOWN keeps its share of the cap; a refused one gives it back")
    func unknownOutcomesCount() async throws {
        // No stall among the faults here: the default Twilio timeout (15 s), which a loaded machine never hits
        // against the in-process simulator (a 1 s one could time out a healthy request).
        try await withCrashRig(environment: ["NUMBERD_PURCHASE_CAP": "2"]) { rig in
            let child = try await rig.start(armed: nil)
            /// The reason numberd gave for refusing a purchase of one number, nil when it bought it.
            func attempt() async -> String? {
                do {
                    _ = try await withNumbersClient(rig.client(rig.model.key)) { client in
                        try await client.purchaseNumbers(
                            PurchaseNumbersRequest(
                                accountId: rig.model.accountId, country: "US", numbers: rig.phones.take(1),
                                currency: "USD"),
                            options: CallOptions(timeout: .seconds(30)))
                    }
                    return nil
                } catch {
                    return (error as? RPCError)?.reason ?? "\(error)"
                }
            }
            // A definite refusal (the number is not for sale) gives its share back: three of them pass the cap of 2.
            rig.simulator.engine.addFault(try FaultRule.parse("buyNumber:error:21422:400:1"))
            for _ in 0..<3 { #expect(await attempt() == "NUMBER_UNAVAILABLE") }
            rig.simulator.engine.clearFaults()
            // The answer is lost and the look-up fails: the outcome is unknown, twice; the third is over the cap.
            for spec in ["buyNumber:lost:1", "listNumbers:503-before:1"] {
                rig.simulator.engine.addFault(try FaultRule.parse(spec))
            }
            #expect(await attempt() == "OUTCOME_UNKNOWN")
            #expect(await attempt() == "OUTCOME_UNKNOWN")
            #expect(await attempt() == "PURCHASE_CAP")
            rig.simulator.engine.clearFaults()
            await child.crash()
        }
    }

    @Test("a retry of a purchase with its key is not charged to the cap: a client at its cap still learns its result")
    func keyedRetriesAreNotCharged() async throws {
        try await withCrashRig(environment: ["NUMBERD_PURCHASE_CAP": "2"]) { rig in
            let child = try await rig.start(armed: nil)
            let phones = rig.phones.take(2)
            func purchase(_ numbers: [String], key: String) async -> Result<PurchaseNumbersResponse, RPCError> {
                do {
                    return .success(
                        try await withNumbersClient(rig.client(rig.model.key)) { client in
                            try await client.purchaseNumbers(
                                PurchaseNumbersRequest(
                                    accountId: rig.model.accountId, country: "US", numbers: numbers, currency: "USD"),
                                options: CallOptions(timeout: .seconds(30), idempotencyKey: key))
                        })
                } catch {
                    return .failure(error as? RPCError ?? RPCError(code: .unknown, message: "\(error)"))
                }
            }
            // The whole cap in one purchase, then its retries: each replays the first answer.
            let first = try await purchase(phones, key: "cap-first").get()
            for _ in 0..<3 {
                let again = try await purchase(phones, key: "cap-first").get()
                #expect(again.numbers.map(\.number.id) == first.numbers.map(\.number.id))
            }
            // A new purchase is over the cap, as it should be.
            let next = rig.phones.take(1)
            if case .failure(let error) = await purchase(next, key: "cap-second") {
                #expect(error.reason == "PURCHASE_CAP")
            } else {
                Issue.record("a purchase past the cap was admitted")
            }
            await child.crash()
        }
    }
}
